package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gslb/gslb/cookie"
	"github.com/gslb/gslb/rrl"
)

// config is the server configuration: defaults, then the --config file,
// then flags given on the command line.
type config struct {
	Listen     []string `toml:"listen"`
	Zones      string   `toml:"zones"`
	HTTP       string   `toml:"http"`
	GeoIP      []string `toml:"geoip"`
	LogFormat  string   `toml:"log_format"`
	LogLevel   string   `toml:"log_level"`
	MaxUDPSize int      `toml:"max_udp_size"`
	ECS        struct {
		Use bool `toml:"use"`
	} `toml:"ecs"`
	Chaos struct {
		Version string `toml:"version"`
		ID      string `toml:"id"`
	} `toml:"chaos"`
	TCP struct {
		MaxConns     int      `toml:"max_conns"`
		MaxPerSource int      `toml:"max_per_source"`
		IdleTimeout  duration `toml:"idle_timeout"`
		ReadTimeout  duration `toml:"read_timeout"`
		WriteTimeout duration `toml:"write_timeout"`
		MaxQueries   int      `toml:"max_queries"`
	} `toml:"tcp"`
	UDP struct {
		Readers int `toml:"readers"`
	} `toml:"udp"`
	RRL             rrlConfig    `toml:"rrl"`
	Cookies         cookieConfig `toml:"cookies"`
	HTTPReloadToken string       `toml:"http_reload_token"`
	QueryLog        bool         `toml:"query_log"`
	QueryLogFile    string       `toml:"query_log_file"`
	Pprof           bool         `toml:"pprof"`
}

// rrlConfig is the [rrl] table (docs/rrl-and-cookies.md).
type rrlConfig struct {
	Rate       int            `toml:"rate"`
	Slip       int            `toml:"slip"`
	Window     duration       `toml:"window"`
	IPv4Prefix int            `toml:"ipv4_prefix"`
	IPv6Prefix int            `toml:"ipv6_prefix"`
	Exempt     []netip.Prefix `toml:"exempt"`
	LogOnly    bool           `toml:"log_only"`
	TableSize  int            `toml:"table_size"`
}

// limiter returns the table as the rrl package's Config.
func (r rrlConfig) limiter() rrl.Config {
	ex := r.Exempt
	if ex == nil { // "exempt = []": nothing exempt (nil would mean loopback)
		ex = []netip.Prefix{}
	}
	return rrl.Config{ResponsesPerSecond: r.Rate, Slip: r.Slip, Window: r.Window.Duration,
		IPv4Prefix: r.IPv4Prefix, IPv6Prefix: r.IPv6Prefix, Exempt: ex, LogOnly: r.LogOnly, TableSize: r.TableSize}
}

// cookieConfig is the [cookies] table (docs/rrl-and-cookies.md).
type cookieConfig struct {
	Secret          string `toml:"secret"`
	PreviousSecret  string `toml:"previous_secret"`
	RequireForLarge int    `toml:"require_for_large"`
}

// secrets returns the configured secrets, nil when none is set (the
// handler then makes a random one).
func (c cookieConfig) secrets() (*cookie.Config, error) {
	if c.Secret == "" {
		if c.PreviousSecret != "" {
			return nil, errors.New("[cookies] previous_secret without secret")
		}
		return nil, nil
	}
	var cc cookie.Config
	var err error
	if cc.Secret, err = cookie.SecretFromHex(c.Secret); err != nil {
		return nil, fmt.Errorf("[cookies] secret: %w", err)
	}
	if c.PreviousSecret != "" {
		prev, err := cookie.SecretFromHex(c.PreviousSecret)
		if err != nil {
			return nil, fmt.Errorf("[cookies] previous_secret: %w", err)
		}
		cc.PreviousSecret = &prev
	}
	return &cc, nil
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"10s\")", b)
	}
	d.Duration = v
	return nil
}

func defaultConfig() config {
	var c config
	c.Listen = []string{"127.0.0.1:5353"}
	c.Zones = "zones"
	c.HTTP = "127.0.0.1:8053"
	c.LogFormat = "text"
	c.LogLevel = "info"
	c.MaxUDPSize = 1232
	c.ECS.Use = true
	c.Chaos.Version = "gslb " + versionString()
	c.Chaos.ID, _ = os.Hostname()
	c.TCP.MaxConns = 1000
	c.TCP.MaxPerSource = 64
	c.TCP.IdleTimeout = duration{10 * time.Second}
	c.TCP.ReadTimeout = duration{2 * time.Second}
	c.TCP.WriteTimeout = duration{2 * time.Second}
	c.TCP.MaxQueries = 1000
	d := rrl.DefaultConfig()
	c.RRL = rrlConfig{Rate: d.ResponsesPerSecond, Slip: d.Slip, Window: duration{d.Window},
		IPv4Prefix: d.IPv4Prefix, IPv6Prefix: d.IPv6Prefix, TableSize: d.TableSize,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	return c
}

// strList is a repeatable flag.
type strList struct {
	vals *[]string
	set  bool
}

func (s *strList) String() string {
	if s.vals == nil {
		return ""
	}
	return strings.Join(*s.vals, ",")
}

func (s *strList) Set(v string) error {
	if !s.set { // the first use replaces the default
		*s.vals, s.set = nil, true
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s.vals = append(*s.vals, p)
		}
	}
	return nil
}

// configArg finds the value of --config (or -config) in args, in any of
// the forms the flag package accepts, before the flags are parsed.
func configArg(args []string) string {
	for i, a := range args {
		if a == "--" {
			return ""
		}
		if !strings.HasPrefix(a, "-") {
			continue // another flag's value
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// loadConfigFile decodes a TOML config file over cfg; unknown keys are an
// error naming them.
func loadConfigFile(path string, cfg *config) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	md, err := toml.Decode(string(src), cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var ks []string
		for _, k := range und {
			ks = append(ks, k.String())
		}
		return fmt.Errorf("%s: unknown key(s): %s", path, strings.Join(ks, ", "))
	}
	return nil
}

// parseServeFlags builds the config. Flags given explicitly win over the
// config file, which wins over defaults.
func parseServeFlags(fs *flag.FlagSet, args []string) (config, error) {
	cfg := defaultConfig()
	// The config file is read first, so that the flags, bound to the same
	// struct, overwrite only what the command line gives.
	configPath := configArg(args)
	if configPath != "" {
		if err := loadConfigFile(configPath, &cfg); err != nil {
			return cfg, err
		}
	}
	fs.String("config", "", "TOML config file with the same settings as the flags")
	fs.StringVar(&cfg.Zones, "zones", cfg.Zones, "directory of *.toml zone files (watched: edits apply without restart)")
	fs.Var(&strList{vals: &cfg.Listen}, "listen", "address to serve DNS on, UDP and TCP (repeatable; \":53\" in production)")
	fs.StringVar(&cfg.HTTP, "http", cfg.HTTP, "address of the status page and JSON API; \"\" disables")
	fs.Var(&strList{vals: &cfg.GeoIP}, "geoip", "MaxMind-format database file: City, Country or ASN (repeatable; watched)")
	fs.BoolVar(&cfg.ECS.Use, "ecs", cfg.ECS.Use, "take the client from EDNS Client Subnet when a query carries it")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.IntVar(&cfg.MaxUDPSize, "max-udp-size", cfg.MaxUDPSize, "largest UDP answer, also advertised in EDNS")
	fs.StringVar(&cfg.Chaos.Version, "chaos-version", cfg.Chaos.Version, "answer to CHAOS TXT version.bind; \"\" refuses")
	fs.StringVar(&cfg.Chaos.ID, "chaos-id", cfg.Chaos.ID, "answer to CHAOS TXT id.server; \"\" refuses")
	fs.BoolVar(&cfg.QueryLog, "query-log", cfg.QueryLog, "log every query (switch at run time with POST /querylog?on=1|0)")
	fs.StringVar(&cfg.QueryLogFile, "query-log-file", cfg.QueryLogFile, "file the query log appends to; \"\" is stderr")
	fs.BoolVar(&cfg.Pprof, "pprof", cfg.Pprof, "serve Go profiling at /debug/pprof/ on --http")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return cfg, fmt.Errorf("log format %q: want text or json", cfg.LogFormat)
	}
	if len(cfg.Listen) == 0 {
		return cfg, errors.New("no listen address")
	}
	if cfg.MaxUDPSize < 512 || cfg.MaxUDPSize > 65535 {
		return cfg, fmt.Errorf("max UDP size %d: want 512 to 65535 (1232 avoids fragmentation)", cfg.MaxUDPSize)
	}
	if err := cfg.RRL.limiter().Validate(); err != nil {
		return cfg, fmt.Errorf("[rrl] %w", err)
	}
	if _, err := cfg.Cookies.secrets(); err != nil {
		return cfg, err
	}
	if r := cfg.Cookies.RequireForLarge; r != 0 && (r < 512 || r > 65535) {
		return cfg, fmt.Errorf("[cookies] require_for_large %d: want 0 (off) or 512 to 65535", r)
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"[tcp] max_conns", cfg.TCP.MaxConns}, {"[tcp] max_per_source", cfg.TCP.MaxPerSource},
		{"[tcp] max_queries", cfg.TCP.MaxQueries}, {"[udp] readers", cfg.UDP.Readers}} {
		if v.n < 0 {
			return cfg, fmt.Errorf("%s %d: want a positive number (0 for the default)", v.key, v.n)
		}
	}
	return cfg, nil
}
