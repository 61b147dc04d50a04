package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// NetProber probes over the network. It is the Manager's default Prober.
//
//   - tcp: success when a TCP connection to Addr:Port is established.
//   - http, https: one GET to Addr:Port with a fresh connection (no
//     keep-alive, no proxy, redirects not followed: a 3xx is judged by
//     Expect), Host and SNI from Spec.Host, success when the status
//     matches Expect and, if Body is set, the first 64 KiB of the body
//     contain it.
//   - dns: one query over UDP for Query/QueryType with RD set; success when
//     the answer is NOERROR with at least one answer record.
//
// The zero value is ready to use.
type NetProber struct{}

// Probe implements Prober. t.Spec must have its defaults filled in.
func (p NetProber) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	var err error
	switch t.Spec.Type {
	case TypeTCP:
		err = probeTCP(ctx, t)
	case TypeHTTP, TypeHTTPS:
		err = probeHTTP(ctx, t)
	case TypeDNS:
		err = probeDNS(ctx, t)
	default:
		err = fmt.Errorf("unknown check type %q", t.Spec.Type)
	}
	res := Result{OK: err == nil, Reason: "ok", Latency: time.Since(start)}
	if err != nil {
		res.Reason = reason(ctx, t.Spec.Timeout, err)
	}
	return res
}

// phaseError says which step of a probe failed: "connect", "tls", "http",
// "read body", "dns".
type phaseError struct {
	phase string
	err   error
}

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// checkError is a failure whose message is the whole reason.
type checkError string

func (e checkError) Error() string { return string(e) }

func dialAddr(t Target) string { return netip.AddrPortFrom(t.Addr, t.Spec.Port).String() }

func dial(ctx context.Context, network string, t Target) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, dialAddr(t))
	if err != nil {
		return nil, &phaseError{"connect", err}
	}
	return c, nil
}

func probeTCP(ctx context.Context, t Target) error {
	c, err := dial(ctx, "tcp", t)
	if err != nil {
		return err
	}
	return c.Close()
}

func probeHTTP(ctx context.Context, t Target) error {
	s := t.Spec
	u, err := url.ParseRequestURI(s.Path)
	if err != nil {
		return checkError("invalid path")
	}
	u.Scheme = s.Type
	u.Host = netip.AddrPortFrom(t.Addr.WithZone(""), s.Port).String()
	if s.Host != "" {
		u.Host = s.Host
	}
	serverName := s.Host
	if h, _, err := net.SplitHostPort(s.Host); err == nil {
		serverName = h
	}
	if serverName == "" {
		serverName = t.Addr.WithZone("").String()
	}
	tlsConf := &tls.Config{ServerName: serverName, InsecureSkipVerify: s.Insecure}

	// A transport per probe: no connection is reused between probes, so
	// every probe sees what a new client sees. Every dial goes to
	// Addr:Port whatever the URL's host says.
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, "tcp", t)
		},
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := dial(ctx, "tcp", t)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, tlsConf)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, &phaseError{"tls", err}
			}
			return tc, nil
		},
		MaxResponseHeaderBytes: 64 << 10,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return checkError("invalid request")
	}
	req.Header.Set("User-Agent", "gslb-health/1")
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var pe *phaseError
		if errors.As(err, &pe) {
			return pe
		}
		return &phaseError{"http", err}
	}
	defer resp.Body.Close()
	if !expectMatch(s.Expect, resp.StatusCode) {
		return checkError(fmt.Sprintf("status %d", resp.StatusCode))
	}
	if s.Body == "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return &phaseError{"read body", err}
	}
	if !strings.Contains(string(body), s.Body) {
		return checkError(fmt.Sprintf("body does not contain %q", s.Body))
	}
	return nil
}

func probeDNS(ctx context.Context, t Target) error {
	s := t.Spec
	c, err := dial(ctx, "udp", t)
	if err != nil {
		return err
	}
	defer c.Close()
	// miekg/dns honours the context's deadline but not its cancellation:
	// cut the socket when the context ends so a removed target stops now.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(s.Query), dns.StringToType[s.QueryType])
	q.RecursionDesired = true
	q.SetEdns0(1232, false)
	cl := &dns.Client{Net: "udp", Timeout: s.Timeout}
	r, _, err := cl.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: c})
	if err != nil {
		return &phaseError{"dns", err}
	}
	switch {
	case r.Rcode != dns.RcodeSuccess:
		return checkError("dns: rcode " + strings.ToLower(dns.RcodeToString[r.Rcode]))
	case len(r.Answer) == 0 && r.Truncated:
		return checkError("dns: truncated answer")
	case len(r.Answer) == 0:
		return checkError("dns: no answer records")
	}
	return nil
}

// reason turns a probe error into a short lowercase reason.
func reason(ctx context.Context, timeout time.Duration, err error) string {
	var ce checkError
	if errors.As(err, &ce) {
		return string(ce)
	}
	if isTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return timeoutReason(timeout)
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	phase := "probe"
	var pe *phaseError
	if errors.As(err, &pe) {
		phase = pe.phase
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect: connection refused" // also ICMP port unreachable on UDP
	case errors.As(err, &errno):
		return phase + ": " + errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return phase + ": connection closed by peer"
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return "tls: " + certReason(cve.Err)
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return "tls: " + alert.Error()
	}
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) {
		return "tls: server did not answer with tls"
	}
	msg := strings.ToLower(innermost(err).Error())
	// net/http reports a connection closed before the request was read as
	// "server closed idle connection"; probes never reuse connections, so
	// say what happened.
	if strings.Contains(msg, "server closed idle connection") {
		return phase + ": connection closed by peer"
	}
	return phase + ": " + strings.TrimPrefix(msg, phase+": ")
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func certReason(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return "certificate signed by unknown authority"
	case errors.As(err, &hn):
		return "certificate not valid for " + hn.Host
	case errors.As(err, &ci):
		if ci.Reason == x509.Expired {
			return "certificate expired or not yet valid"
		}
		return "certificate invalid"
	}
	return strings.TrimPrefix(err.Error(), "x509: ")
}

// innermost strips wrappers that only add context we already show
// (the URL, the operation, the address).
func innermost(err error) error {
	for {
		var next error
		switch e := err.(type) {
		case *phaseError:
			next = e.err
		case *url.Error:
			next = e.Err
		case *net.OpError:
			next = e.Err
		case *os.SyscallError:
			next = e.Err
		}
		if next == nil {
			return err
		}
		err = next
	}
}
