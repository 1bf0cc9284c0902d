package testutil

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/event/eventschema"
)

// Deadline bounds every wait of the harness. It is generous: a -race build
// on two busy cores is slow, and a test waits on the event, never on the
// clock.
const Deadline = 30 * time.Second

// LoopbackICE is the ROOMCTL_ICE_IP of every process Start starts outside
// a namespace: ICE gathers on 127.0.0.1 only.
const LoopbackICE = "127.0.0.1/32"

// schema is the event schema's validator, compiled once.
var schema = sync.OnceValues(eventschema.New)

// Cmd is a roomctl process to start.
type Cmd struct {
	Path string   // the binary
	Name string   // names the process in failures; default the binary's name
	Args []string // the command line after the binary
	// Env is added to the environment (os.Environ()). The harness's own
	// variables come last and win: ROOMCTL_ICE_IP (a test that wants other
	// addresses passes --ice-ip), ROOMCTL_LOG_LEVEL=debug and GORACE.
	Env []string
	// NoSchema decodes the lines and checks their seq but does not
	// validate them against the event schema, for output the schema does
	// not describe yet.
	NoSchema bool
	// NetNS, when set, runs the process inside that namespace, gathering
	// on its addresses.
	NetNS *NetNS
}

// Proc is a running roomctl process whose stdout events are collected and
// checked: every line against the schema, seq counting from 1. Its UDP
// sockets are watched while it runs (UDPWatch). t.Cleanup kills it, fails
// the test on a data race report in its stderr, and logs its output when
// the test failed (or E2E_LOG is set).
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *Buffer
	udp    *UDPWatch

	mu    sync.Mutex
	lines []event.Line
	raw   []string
	cond  chan struct{} // closed and replaced on every new line

	exited chan struct{} // closed once the process is reaped
	err    error         // what Wait returned; set before exited closes
}

// Start starts c and collects its events until it exits.
func Start(t testing.TB, c Cmd) *Proc {
	t.Helper()
	var v *eventschema.Validator
	if !c.NoSchema {
		var err error
		if v, err = schema(); err != nil {
			t.Fatalf("event schema: %v", err)
		}
	}
	name := c.Name
	if name == "" {
		name = filepath.Base(c.Path)
	}
	p := &Proc{t: t, name: name, stderr: &Buffer{}, cond: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(c.Path, c.Args...)
	ice, allowed := LoopbackICE, Loopback()
	if c.NetNS != nil {
		ice, allowed = c.NetNS.ICE(), c.NetNS.Allowed()
	}
	// A race report in a child makes it exit 66 and fails the test that
	// waits on it; halt_on_error makes that prompt.
	p.cmd.Env = append(append(os.Environ(), c.Env...),
		"ROOMCTL_ICE_IP="+ice, "ROOMCTL_LOG_LEVEL=debug", "GORACE=halt_on_error=1")
	p.cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.NetNS != nil {
		err = c.NetNS.Do(p.cmd.Start)
	} else {
		err = p.cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	p.udp = WatchUDP(t, name, p.cmd.Process.Pid, WatchOptions{Allowed: allowed})
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.add(sc.Bytes(), v)
		}
		if err := sc.Err(); err != nil {
			t.Errorf("%s: reading stdout: %v", name, err)
		}
		// Stdout is closed: the process is ending. Stop looking at its
		// sockets before it is reaped and its PID can be reused.
		p.udp.Stop()
		p.err = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.udp.Check() // a last look, before it ends
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: data race", name)
		}
		if logOutput(t) {
			t.Logf("---- %s %s\n---- stdout:\n%s\n---- stderr:\n%s", name, joinArgs(c.Args),
				strings.Join(p.Raw(), "\n"), Tail(p.stderr.String(), 6000))
		}
	})
	return p
}

// add decodes one stdout line, validating it when v is set.
func (p *Proc) add(line []byte, v *eventschema.Validator) {
	b := append([]byte(nil), line...)
	if v != nil {
		if err := v.Validate(b); err != nil {
			p.t.Errorf("%s printed a line outside the schema: %v", p.name, err)
		}
	}
	l, err := event.Decode(b)
	if err != nil {
		p.t.Errorf("%s: %v: %q", p.name, err, b)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if want := int64(len(p.lines) + 1); l.Seq != want {
		p.t.Errorf("%s: seq %d, want %d", p.name, l.Seq, want)
	}
	p.lines = append(p.lines, l)
	p.raw = append(p.raw, string(b))
	close(p.cond)
	p.cond = make(chan struct{})
}

// Name is the process's name in failures.
func (p *Proc) Name() string { return p.name }

// PID is the process's id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stderr is what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Send writes line and a newline to the process's stdin (the --control
// commands).
func (p *Proc) Send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: stdin: %v", p.name, err)
	}
}

// Raw is a copy of the stdout lines so far, as printed.
func (p *Proc) Raw() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.raw...)
}

// Lines is a copy of the decoded stdout lines so far.
func (p *Proc) Lines() []event.Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]event.Line(nil), p.lines...)
}

// Mark is the index the next line will have.
func (p *Proc) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// WaitFrom blocks until a line at index from or later is named name and
// its data satisfies pred (nil: any), and returns it and its index. It
// fails the test when the process exits first or Deadline passes.
func (p *Proc) WaitFrom(from int, name string, pred Pred) (event.Line, int) {
	p.t.Helper()
	deadline := time.After(Deadline)
	for i := from; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if l := p.lines[i]; l.Event == name && (pred == nil || pred(l.Data.(json.RawMessage))) {
				p.mu.Unlock()
				return l, i
			}
		}
		ch := p.cond
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.exited:
			// Look at what came before the exit first.
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if i >= n {
				p.t.Fatalf("%s exited (%v) before printing %s", p.name, p.err, name)
			}
		case <-deadline:
			p.t.Fatalf("%s: no %s within %s", p.name, name, Deadline)
		}
	}
}

// Wait is WaitFrom the first line.
func (p *Proc) Wait(name string, pred Pred) event.Line {
	p.t.Helper()
	l, _ := p.WaitFrom(0, name, pred)
	return l
}

// Find returns the index of the first line at from or later named name
// whose data satisfies pred, or -1, without waiting.
func (p *Proc) Find(from int, name string, pred Pred) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from; i < len(p.lines); i++ {
		if l := p.lines[i]; l.Event == name && (pred == nil || pred(l.Data.(json.RawMessage))) {
			return i
		}
	}
	return -1
}

// Has reports whether the process printed a line named name.
func (p *Proc) Has(name string) bool { return p.Find(0, name, nil) >= 0 }

// Count is how many lines named name the process printed.
func (p *Proc) Count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if l.Event == name {
			n++
		}
	}
	return n
}

// WaitStderr blocks until the process's stderr contains s; it fails the
// test when the process exits first or Deadline passes.
func (p *Proc) WaitStderr(s string) {
	p.t.Helper()
	if !p.stderr.waitFor(s, p.exited, time.After(Deadline)) {
		p.t.Fatalf("%s: no %q on stderr within %s (or it exited: %v)", p.name, s, Deadline, p.exitErr())
	}
}

// exitErr is the process's Wait error if it has exited.
func (p *Proc) exitErr() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// Signal sends s to the process, after a last look at its sockets.
func (p *Proc) Signal(s os.Signal) {
	p.udp.Check()
	_ = p.cmd.Process.Signal(s)
}

// Kill kills the process (SIGKILL), after a last look at its sockets.
func (p *Proc) Kill() {
	p.t.Helper()
	p.udp.Check()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill %s: %v", p.name, err)
	}
}

// WaitExit waits for the process to end and returns what exec.Cmd.Wait
// returned; it fails the test after Deadline.
func (p *Proc) WaitExit() error {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(Deadline):
		p.t.Fatalf("%s did not exit within %s", p.name, Deadline)
		return nil
	}
}

// ExitCode waits for the process to end and returns its exit code; an
// end that is not an exit (a signal) fails the test.
func (p *Proc) ExitCode() int {
	p.t.Helper()
	err := p.WaitExit()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return 0
}

// Pred selects a line by its data.
type Pred = func(json.RawMessage) bool

// Field matches data whose key is want, both compared as fmt.Sprint
// prints them (so 0 matches a JSON 0).
func Field(key string, want any) Pred {
	return func(d json.RawMessage) bool {
		var m map[string]any
		if json.Unmarshal(d, &m) != nil {
			return false
		}
		return fmt.Sprint(m[key]) == fmt.Sprint(want)
	}
}

// Both matches data that a and b match.
func Both(a, b Pred) Pred {
	return func(d json.RawMessage) bool { return a(d) && b(d) }
}

// DecodeAs decodes a line's data as T, failing the test if it cannot.
func DecodeAs[T any](t testing.TB, l event.Line) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(l.Data.(json.RawMessage), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// LineTime is a line's ts.
func LineTime(t testing.TB, l event.Line) time.Time {
	t.Helper()
	ts, err := time.Parse("2006-01-02T15:04:05.000Z", l.TS)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
