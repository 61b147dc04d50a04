package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/zones"
)

// The query log: one line per answered query, through log/slog to a sink
// of its own (stderr or query_log_file), switchable at run time.
//
// Serving never waits for it: the query path copies a small entry into a
// bounded channel and goes on; one goroutine formats and writes. When the
// channel is full (the sink is slower than the query rate) the entry is
// dropped and counted (gslb_query_log_dropped_total).

const (
	queryLogBuffer  = 4096 // entries waiting to be written
	queryLogAnswers = 8    // answer records kept per entry; more are counted
)

type queryLog struct {
	on      atomic.Bool
	ch      chan qlEntry
	dropped atomic.Uint64
	written atomic.Uint64

	format string
	path   string    // "" writes to stderr
	stderr io.Writer // the process's stderr
	log    *slog.Logger

	reopenCh chan chan error
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// Owned by the run goroutine once started.
	h    slog.Handler
	file *os.File
}

// qlEntry is what the query path copies out of an Observation.
type qlEntry struct {
	at     time.Time
	name   string
	qtype  uint16
	rcode  int
	tcp    bool
	src    netip.AddrPort
	hasECS bool
	ecs    netip.Prefix
	scope  int
	zone   *zones.Zone // immutable snapshot data
	pool   *zones.Pool
	nAns   int
	ans    [queryLogAnswers]dns.RR // immutable records (snapshot or per-query copies)
}

// newQueryLog opens the sink (the file, if any) and starts the writer.
// on is the initial state.
func newQueryLog(on bool, path, format string, stderr io.Writer, log *slog.Logger) (*queryLog, error) {
	q := &queryLog{
		ch:       make(chan qlEntry, queryLogBuffer),
		format:   format,
		path:     path,
		stderr:   stderr,
		log:      log,
		reopenCh: make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := q.open(); err != nil {
		return nil, err
	}
	q.on.Store(on)
	go q.run()
	return q, nil
}

// open (re)opens the sink; only the run goroutine calls it once running.
func (q *queryLog) open() error {
	w := q.stderr
	if q.path != "" {
		f, err := os.OpenFile(q.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("query log: %w", err)
		}
		if q.file != nil {
			q.file.Close()
		}
		q.file = f
		w = f
	}
	if q.format == "json" {
		q.h = slog.NewJSONHandler(w, nil)
	} else {
		q.h = slog.NewTextHandler(w, nil)
	}
	return nil
}

// add queues one entry; it never blocks.
func (q *queryLog) add(o *dnssrv.Observation) {
	e := qlEntry{at: time.Now(), name: strings.Clone(o.Name), // o.Name may alias the handler's scratch
		qtype: o.Qtype, rcode: o.Rcode, tcp: o.TCP, src: o.Src,
		hasECS: o.HasECS, ecs: o.ECS, scope: o.Scope, zone: o.Zone, pool: o.Pool}
	for rr := range o.Records() {
		if e.nAns < len(e.ans) {
			e.ans[e.nAns] = rr
		}
		e.nAns++
	}
	select {
	case q.ch <- e:
	default:
		q.dropped.Add(1)
	}
}

// set turns the log on or off and reports whether it changed.
func (q *queryLog) set(on bool) bool { return q.on.Swap(on) != on }

// reopen reopens the file (after logrotate moved it); no-op on stderr.
func (q *queryLog) reopen() error {
	if q.path == "" {
		return nil
	}
	errc := make(chan error, 1)
	select {
	case q.reopenCh <- errc:
		return <-errc
	case <-q.done:
		return nil
	}
}

// close writes what is queued, stops the writer and closes the file.
func (q *queryLog) close() {
	q.stopOnce.Do(func() { close(q.stop) })
	<-q.done
}

func (q *queryLog) run() {
	defer close(q.done)
	defer func() {
		if q.file != nil {
			q.file.Close()
		}
	}()
	for {
		select {
		case e := <-q.ch:
			q.write(&e)
		case errc := <-q.reopenCh:
			err := q.open()
			if err != nil {
				q.log.Warn("query log reopen failed", "file", q.path, "err", err) // keeps writing to the old file
			}
			errc <- err
		case <-q.stop:
			for {
				select {
				case e := <-q.ch:
					q.write(&e)
				default:
					return
				}
			}
		}
	}
}

func (q *queryLog) write(e *qlEntry) {
	r := slog.NewRecord(e.at, slog.LevelInfo, "query", 0)
	transport := "udp"
	if e.tcp {
		transport = "tcp"
	}
	r.AddAttrs(
		slog.String("client", e.src.Addr().Unmap().String()),
		slog.String("transport", transport),
	)
	if e.hasECS {
		ecs := "0/0" // family 0: "don't tailor"
		if e.ecs.IsValid() {
			ecs = e.ecs.String()
		}
		r.AddAttrs(slog.String("ecs", ecs), slog.Int("scope", e.scope))
	}
	r.AddAttrs(
		slog.String("name", e.name),
		slog.String("type", dns.Type(e.qtype).String()),
		slog.String("rcode", rcodeString(e.rcode)),
	)
	if e.zone != nil {
		r.AddAttrs(slog.String("zone", e.zone.Origin))
	}
	if e.pool != nil {
		r.AddAttrs(slog.String("pool", e.pool.Name), slog.String("policy", e.pool.Policy.String()))
	}
	ans := make([]string, 0, min(e.nAns, queryLogAnswers))
	for _, rr := range e.ans[:min(e.nAns, queryLogAnswers)] {
		ans = append(ans, answerText(rr))
	}
	r.AddAttrs(slog.Any("answers", ans))
	if e.nAns > queryLogAnswers {
		r.AddAttrs(slog.Int("answers_more", e.nAns-queryLogAnswers))
	}
	if err := q.h.Handle(context.Background(), r); err == nil {
		q.written.Add(1)
	}
}

// answerText is an answer record in short: the address for A/AAAA, else
// "TYPE data".
func answerText(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.A:
		return v.A.String()
	case *dns.AAAA:
		return v.AAAA.String()
	}
	return dns.Type(rr.Header().Rrtype).String() + " " + strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}
