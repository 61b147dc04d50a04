package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
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
		MaxConns    int      `toml:"max_conns"`
		IdleTimeout duration `toml:"idle_timeout"`
		MaxQueries  int      `toml:"max_queries"`
	} `toml:"tcp"`
	HTTPReloadToken string `toml:"http_reload_token"`
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
	c.TCP.IdleTimeout = duration{10 * time.Second}
	c.TCP.MaxQueries = 1000
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

// parseServeFlags builds the config. Flags given explicitly win over the
// config file, which wins over defaults.
func parseServeFlags(fs *flag.FlagSet, args []string) (config, error) {
	cfg := defaultConfig()
	var flagCfg = defaultConfig()
	configPath := fs.String("config", "", "TOML config file with the same settings as the flags")
	fs.StringVar(&flagCfg.Zones, "zones", cfg.Zones, "directory of *.toml zone files (watched: edits apply without restart)")
	fs.Var(&strList{vals: &flagCfg.Listen}, "listen", "address to serve DNS on, UDP and TCP (repeatable; \":53\" in production)")
	fs.StringVar(&flagCfg.HTTP, "http", cfg.HTTP, "address of the status page and JSON API; \"\" disables")
	fs.Var(&strList{vals: &flagCfg.GeoIP}, "geoip", "MaxMind-format database file: City, Country or ASN (repeatable; watched)")
	fs.BoolVar(&flagCfg.ECS.Use, "ecs", cfg.ECS.Use, "take the client from EDNS Client Subnet when a query carries it")
	fs.StringVar(&flagCfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&flagCfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.IntVar(&flagCfg.MaxUDPSize, "max-udp-size", cfg.MaxUDPSize, "largest UDP answer, also advertised in EDNS")
	fs.StringVar(&flagCfg.Chaos.Version, "chaos-version", cfg.Chaos.Version, "answer to CHAOS TXT version.bind; \"\" refuses")
	fs.StringVar(&flagCfg.Chaos.ID, "chaos-id", cfg.Chaos.ID, "answer to CHAOS TXT id.server; \"\" refuses")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configPath != "" {
		src, err := os.ReadFile(*configPath)
		if err != nil {
			return cfg, err
		}
		md, err := toml.Decode(string(src), &cfg)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return cfg, fmt.Errorf("%s:%d:%d: %s", *configPath, pe.Position.Line, pe.Position.Col, pe.Message)
			}
			return cfg, fmt.Errorf("%s: %v", *configPath, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			var ks []string
			for _, k := range und {
				ks = append(ks, k.String())
			}
			return cfg, fmt.Errorf("%s: unknown key(s): %s", *configPath, strings.Join(ks, ", "))
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "zones":
			cfg.Zones = flagCfg.Zones
		case "listen":
			cfg.Listen = flagCfg.Listen
		case "http":
			cfg.HTTP = flagCfg.HTTP
		case "geoip":
			cfg.GeoIP = flagCfg.GeoIP
		case "ecs":
			cfg.ECS.Use = flagCfg.ECS.Use
		case "log-format":
			cfg.LogFormat = flagCfg.LogFormat
		case "log-level":
			cfg.LogLevel = flagCfg.LogLevel
		case "max-udp-size":
			cfg.MaxUDPSize = flagCfg.MaxUDPSize
		case "chaos-version":
			cfg.Chaos.Version = flagCfg.Chaos.Version
		case "chaos-id":
			cfg.Chaos.ID = flagCfg.Chaos.ID
		}
	})
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return cfg, fmt.Errorf("log format %q: want text or json", cfg.LogFormat)
	}
	if len(cfg.Listen) == 0 {
		return cfg, errors.New("no listen address")
	}
	if cfg.MaxUDPSize < 512 || cfg.MaxUDPSize > 65535 {
		return cfg, fmt.Errorf("max UDP size %d: want 512 to 65535 (1232 avoids fragmentation)", cfg.MaxUDPSize)
	}
	return cfg, nil
}
