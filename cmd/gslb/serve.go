package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/geo"
	"github.com/gslb/gslb/health"
	"github.com/gslb/gslb/internal/probes"
	"github.com/gslb/gslb/zones"
)

// app is a running server: the pieces serve wires together.
type app struct {
	cfg     config
	log     *slog.Logger
	started time.Time
	store   zones.Store
	loader  *zones.Loader
	health  *health.Manager
	geo     *geo.DB
	handler *dnssrv.Handler
	dns     *dnssrv.Server
	httpLn  net.Listener
	httpSrv *http.Server
	metrics *metrics  // query counters behind /metrics
	qlog    *queryLog // nil when nothing could switch it on

	cancel context.CancelFunc // stops the background goroutines below
	bg     sync.WaitGroup     // the zone and GeoIP watchers

	reloadMu sync.Mutex // one reload at a time, so snapshots publish in load order

	mu         sync.Mutex // guards the reload bookkeeping below
	reloads    int
	reloadErrs int
	lastReload time.Time
	lastErr    error
	ready      bool
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: gslb serve [flags]

Serves the zones in --zones on every --listen address (UDP and TCP), with a
status page and JSON API on --http. Zone files and GeoIP databases are
watched and reloaded on change and on SIGHUP; SIGINT/SIGTERM stop cleanly.

Flags:`)
		fs.PrintDefaults()
	}
	cfg, err := parseServeFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "gslb serve:", err)
		return 2
	}
	log, err := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "gslb serve:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, code := start(ctx, cfg, log, stderr)
	if a == nil {
		return code
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			a.close()
			return 0
		case <-hup:
			log.Info("reload requested", "by", "SIGHUP")
			_ = a.reload("SIGHUP") // logged by reload
			_ = a.geo.Reload()     // logs each rejected file itself
			if a.qlog != nil {
				_ = a.qlog.reopen() // after logrotate; logs its own failure
			}
		}
	}
}

// start builds and starts everything; on failure it returns nil and the
// exit code (2 for configuration, 1 for runtime problems like binding).
// stderr is the query log's sink when it has no file.
func start(ctx context.Context, cfg config, log *slog.Logger, stderr io.Writer) (*app, int) {
	a := &app{cfg: cfg, log: log, started: time.Now(), metrics: newMetrics()}
	ctx, a.cancel = context.WithCancel(ctx)
	ok := false
	defer func() {
		if !ok {
			a.cancel()
		}
	}()
	if fi, err := os.Stat(cfg.Zones); err != nil || !fi.IsDir() {
		log.Error("zones directory unusable", "dir", cfg.Zones, "err", errOr(err, "not a directory"))
		return nil, 2
	}
	if len(cfg.GeoIP) > 0 {
		db, err := geo.Open(cfg.GeoIP, log)
		if err != nil {
			log.Error("geoip database unusable", "err", err)
			return nil, 2
		}
		a.geo = db
	}
	a.health = health.New(health.Options{Logger: log, Prober: timedProber{next: health.NetProber{}, hist: a.metrics.checks}})
	a.loader = zones.NewLoader(cfg.Zones)
	watcher := newZoneWatcher(cfg.Zones, log)
	defer func() {
		if !ok && watcher != nil {
			watcher.Close()
		}
	}()
	_ = a.reload("start") // logged by reload; failing files show in /status
	var locator dnssrv.Locator
	if a.geo != nil {
		locator = a.geo
	}
	// Queries are observed when something can read the result: /metrics,
	// or the query log (which POST /querylog may switch on later).
	var obs dnssrv.Observer
	if cfg.HTTP != "" || cfg.QueryLog {
		ql, err := newQueryLog(cfg.QueryLog, cfg.QueryLogFile, cfg.LogFormat, stderr, log)
		if err != nil {
			log.Error("query log unusable", "file", cfg.QueryLogFile, "err", err)
			a.health.Close()
			return nil, 1
		}
		a.qlog = ql
		obs = &observer{m: a.metrics, ql: ql}
	}
	rrlCfg := cfg.RRL.limiter()
	cookies, _ := cfg.Cookies.secrets() // validated by parseServeFlags
	if cookies == nil {
		log.Info("cookie secret is random; set [cookies] secret alike on every node answering on the same address")
	}
	a.handler = dnssrv.NewHandler(dnssrv.Config{
		Zones:        &a.store,
		Health:       func() dnssrv.HealthView { return a.health.Current() },
		Locator:      locator,
		Log:          log.With("component", "dns"),
		UseECS:       cfg.ECS.Use,
		MaxUDPSize:   cfg.MaxUDPSize,
		ChaosVersion: cfg.Chaos.Version,
		ChaosID:      cfg.Chaos.ID,
		Observer:     obs,

		RRL:                   &rrlCfg,
		Cookies:               cookies,
		CookieRequireForLarge: cfg.Cookies.RequireForLarge,
	})
	a.dns = dnssrv.NewServer(dnssrv.ServerConfig{
		Listen:         cfg.Listen,
		Log:            log.With("component", "dns"),
		UDPReaders:     cfg.UDP.Readers,
		TCPMaxConns:    cfg.TCP.MaxConns,
		TCPMaxPerSrc:   cfg.TCP.MaxPerSource,
		TCPIdleTimeout: cfg.TCP.IdleTimeout.Duration,
		TCPReadTimeout: cfg.TCP.ReadTimeout.Duration,
		WriteTimeout:   cfg.TCP.WriteTimeout.Duration,
		TCPMaxQueries:  cfg.TCP.MaxQueries,
	}, a.handler)
	if err := a.dns.Start(); err != nil {
		log.Error("dns listener failed", "err", err)
		a.health.Close()
		a.closeQueryLog()
		return nil, 1
	}
	if cfg.HTTP != "" {
		ln, err := net.Listen("tcp", cfg.HTTP)
		if err != nil {
			log.Error("http listener failed", "addr", cfg.HTTP, "err", err)
			a.dns.Close()
			a.health.Close()
			a.closeQueryLog()
			return nil, 1
		}
		a.httpLn = ln
		a.httpSrv = &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
		log.Info("http listening", "addr", ln.Addr().String())
	}
	if watcher != nil {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			a.watchZones(ctx, watcher)
		}()
	}
	a.metrics.sample(time.Now())
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.metrics.sampleShares(ctx)
	}()
	if a.geo != nil {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			if err := a.geo.Watch(ctx); err != nil {
				log.Warn("geoip watch stopped", "err", err)
			}
		}()
	}
	a.mu.Lock()
	a.ready = true
	a.mu.Unlock()
	ok = true
	return a, 0
}

func errOr(err error, s string) any {
	if err != nil {
		return err
	}
	return s
}

// close stops serving and returns once the listeners are closed (their
// ports free) and every goroutine start began has exited. HTTP requests in
// flight get up to 5s to finish.
func (a *app) close() {
	a.cancel()
	if a.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.httpSrv.Shutdown(sctx); err != nil {
			_ = a.httpSrv.Close()
		}
		cancel()
	}
	a.dns.Close()
	a.closeQueryLog() // after the DNS side: every answered query is logged
	a.bg.Wait()       // no reload can start after this
	a.health.Close()
}

func (a *app) closeQueryLog() {
	if a.qlog != nil {
		a.qlog.close()
	}
}

// reload loads the zones directory and publishes the result; files that
// fail keep their previous version (zones.Loader), so serving goes on.
// Reloads are serialised: the watcher, SIGHUP and POST /reload may ask at
// once, and a slower load must not publish over a newer one. It returns
// the load's error (nil when every file loaded).
func (a *app) reload(reason string) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	// Parsing a large zone set takes seconds of CPU. The UDP readers
	// hold Ps of their own (dns/udp_linux.go), so the parser does not
	// take theirs; on its niced thread it also yields the core to a
	// reader's thread as soon as the kernel wakes it for a query, and
	// the collector, which would not, is held back meanwhile (gcload.go;
	// make bench-reload measures both).
	var err error
	atLowPriority(func() {
		withGCHeadroom(func() { err = a.load(reason) })
	})
	return err
}

// load is reload's work, on its low-priority thread.
func (a *app) load(reason string) error {
	start := time.Now()
	snap, err := a.loader.Load()
	a.mu.Lock()
	a.reloads++
	a.lastReload = time.Now()
	a.lastErr = err
	if err != nil {
		a.reloadErrs++
	}
	a.mu.Unlock()
	if snap == nil {
		a.log.Warn("reload rejected", "reason", reason, "err", err)
		return err
	}
	a.metrics.update(snap) // before the snapshot serves: its queries find their counters
	a.store.Replace(snap)
	a.health.Update(probes.Targets(snap))
	for _, e := range zones.Errors(err) {
		a.log.Warn("zone file rejected", "file", e.File, "err", e.Error())
	}
	for _, z := range snap.Zones() {
		a.log.Debug("zone loaded", "zone", z.Origin, "serial", z.Serial, "file", z.File)
	}
	a.log.Info("zones loaded", "reason", reason, "zones", len(snap.Zones()), "errors", len(zones.Errors(err)),
		"took", time.Since(start).Round(time.Millisecond))
	return err
}

// newZoneWatcher watches the zones directory. start calls it before the
// first load, so a change made while serve starts is never missed. nil
// when watching is impossible (reload then needs SIGHUP or POST /reload).
func newZoneWatcher(dir string, log *slog.Logger) *fsnotify.Watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("zone watch unavailable; reload with SIGHUP", "err", err)
		return nil
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		log.Warn("zone watch unavailable; reload with SIGHUP", "dir", dir, "err", err)
		return nil
	}
	return w
}

// watchZones reloads when a zone file in the directory changes. Events
// are debounced: an editor's save or a rename-into-place is one reload.
func (a *app) watchZones(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if base := filepath.Base(ev.Name); zones.IsZoneFile(base) || strings.HasPrefix(base, "..") {
				// "..data" and friends: a Kubernetes ConfigMap or Secret
				// volume updates its files (symlinks into ..data) by
				// swapping the ..data symlink, with no event for them.
				timer = time.After(200 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			a.log.Warn("zone watch error", "err", err)
		case <-timer:
			timer = nil
			_ = a.reload("file change") // logged by reload
		}
	}
}
