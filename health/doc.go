// Package health probes endpoints and publishes whether each one is up.
//
// It owns the probes (http, https, tcp, dns), the rise/fall state machine
// and the published [*View]. It knows nothing of DNS zones, names, pools or
// answers and imports none of our other packages: a [Target] is an address,
// a [Spec] saying how to probe it and a Key chosen by the caller.
//
// # Identity and sharing
//
// The Key is the identity of a prober. Targets with equal keys share one
// prober and one [Status], however many pools or zones list them, so an
// endpoint used by ten pools is probed once per interval, not ten times.
// [KeyOf] builds a key from the address and the effective spec; a caller
// that uses it gets sharing for identical checks and a fresh state
// whenever any probe parameter changes. [Manager.Update] reconciles the
// running set: keys that stay keep their state, new keys start, removed
// keys stop and their goroutines exit before Update returns.
//
// # State machine
//
// Each key starts unknown. [View.Up] reports an unknown key as up, so a
// restart or reload never withdraws answers before anything was measured.
// The first result applies at once (a dead endpoint leaves answers after
// one probe, not after fall probes). After that, rise successes in a row
// turn a down target up and fall failures in a row turn an up target down;
// a result that agrees with the current state resets the count, so a
// target that flaps on every probe keeps its state while rise and fall are
// both at least 2. The machine (state.observe) is a pure function of the
// results.
//
// # Scheduling
//
// One goroutine per key. The first probe waits a random delay in
// [0, interval) so that a start or a reload does not send every probe at
// once; later probes follow every interval ±10%, for the same reason. At
// most Options.MaxConcurrent probes run at a time. Each probe runs under a
// context with the spec's timeout; one that has not finished by then
// fails with "timeout after 2s". Time comes from Options.Clock (timers
// and timestamps) and from context deadlines, so tests run the scheduler
// inside testing/synctest with a fake [Prober].
//
// # Publishing
//
// Every result produces a new immutable [*View] that is published with an
// atomic pointer store; [Manager.Current] is a single atomic load and the
// DNS query path reads views without locks. A view is split into shards
// and a result copies only the shard its key lives in, so publishing stays
// cheap with thousands of targets. State changes are logged at Info as
// "check up" and "check down" with component=health; single probes are
// never logged above Debug.
//
// What the DNS side does with the view (when_all_down, operator state
// overrides) is not decided here; docs/health-checks.md describes the
// whole behaviour for operators.
package health
