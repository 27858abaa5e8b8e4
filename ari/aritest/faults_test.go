package aritest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
)

// tryREST is one REST request that may fail; it gets its own transport so that a dropped or
// abandoned connection is not shared with other tests.
func tryREST(ctx context.Context, s *aritest.Server, method, path, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(testUser, testPass)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), err
}

// TestRESTFaultDelayHoldsSession: a delayed request waits on the fake's clock, keeps its
// session after its client gave up, and is still carried out, as in Asterisk.
func TestRESTFaultDelayHoldsSession(t *testing.T) {
	clock := aritest.NewManualClock(epoch)
	s := newServer(t, aritest.Options{Clock: clock})
	s.SetRESTFaults(aritest.RESTFaults{Delay: 5 * time.Second})

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := tryREST(ctx, s, "POST", "/bridges/slow", `{"type":"mixing"}`)
		errc <- err
	}()
	waitFor(t, s, "the request to be held", func() bool { return s.Stats().Holding == 1 })
	clock.Advance(5*time.Second - time.Millisecond)
	if st := s.Stats(); st.Holding != 1 || len(s.Bridges()) != 0 {
		t.Fatalf("before the delay ran out: holding %d, bridges %v", st.Holding, s.Bridges())
	}
	cancel() // the client gives up
	if err := <-errc; err == nil {
		t.Fatal("the abandoned request succeeded")
	}
	if got := s.Sessions(); got.Open != 1 {
		t.Fatalf("sessions after the client gave up = %+v, want the held one open", got)
	}

	clock.Advance(time.Millisecond)
	waitFor(t, s, "the held session to end", func() bool { return s.Sessions().Open == 0 })
	if b := s.Bridges(); len(b) != 1 || b[0].ID != "slow" {
		t.Errorf("bridges = %+v, want the delayed request carried out", b)
	}
	if st := s.Stats(); st.Delayed != 1 || st.Holding != 0 {
		t.Errorf("stats = %+v, want 1 delayed, none holding", st)
	}
}

// TestRESTFaultFailAndDrop: failing requests get ARI's 500, dropped ones no response; neither
// has an effect, and Match limits them.
func TestRESTFaultFailAndDrop(t *testing.T) {
	s := newServer(t, aritest.Options{Clock: aritest.NewManualClock(epoch)})
	ctx := context.Background()
	onlyBridges := func(method, path string) bool { return method == "POST" && strings.HasPrefix(path, "/ari/bridges") }

	s.SetRESTFaults(aritest.RESTFaults{FailRate: 1, Match: onlyBridges})
	status, body, err := tryREST(ctx, s, "POST", "/bridges/b1", `{"type":"mixing"}`)
	if err != nil || status != 500 || body != `{"error":"Allocation failed"}` {
		t.Errorf("failed request: %d %q %v", status, body, err)
	}
	if status, _, err := tryREST(ctx, s, "GET", "/bridges", ""); err != nil || status != 200 {
		t.Errorf("GET not matched: %d %v", status, err)
	}

	s.SetRESTFaults(aritest.RESTFaults{DropRate: 1, Match: onlyBridges})
	if status, body, err := tryREST(ctx, s, "POST", "/bridges/b2", `{"type":"mixing"}`); err == nil {
		t.Errorf("dropped request answered: %d %q", status, body)
	}
	if len(s.Bridges()) != 0 {
		t.Errorf("bridges = %+v, want none: faulty requests have no effect", s.Bridges())
	}

	s.SetRESTFaults(aritest.RESTFaults{})
	if status, _, err := tryREST(ctx, s, "POST", "/bridges/b3", `{"type":"mixing"}`); err != nil || status != 200 {
		t.Fatalf("after clearing the faults: %d %v", status, err)
	}
	if st := s.Stats(); st.Failed != 1 || st.Dropped != 1 {
		t.Errorf("stats = %+v, want 1 failed, 1 dropped", st)
	}
	waitFor(t, s, "every session closed", func() bool { return s.Sessions().Open == 0 })
}

// TestRESTFaultsAreSeeded: the same seed gives the same failures and delays, another seed
// others.
func TestRESTFaultsAreSeeded(t *testing.T) {
	clock := aritest.NewManualClock(epoch)
	s := newServer(t, aritest.Options{Clock: clock})
	const n = 200
	pattern := func(seed uint64) string {
		s.SetRESTFaults(aritest.RESTFaults{FailRate: 0.25, Seed: seed})
		var b strings.Builder
		for range n {
			status, _, err := tryREST(context.Background(), s, "GET", "/asterisk/info", "")
			if err != nil {
				t.Fatal(err)
			}
			if status == http.StatusInternalServerError {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, again, other := pattern(1), pattern(1), pattern(2)
	if a != again {
		t.Errorf("seed 1 twice:\n%s\n%s", a, again)
	}
	if a == other {
		t.Errorf("seeds 1 and 2 fail the same requests: %s", a)
	}
	if k := strings.Count(a, "x"); k < n/8 || k > n/2 {
		t.Errorf("%d of %d failed at rate 0.25", k, n)
	}

	delay := func(seed uint64) time.Duration {
		s.SetRESTFaults(aritest.RESTFaults{Delay: time.Second, DelayJitter: time.Second, Seed: seed})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _, _ = tryREST(context.Background(), s, "GET", "/asterisk/info", "")
		}()
		waitFor(t, s, "the request to be held", func() bool { return s.Stats().Holding == 1 })
		due, ok := clock.Next()
		if !ok {
			t.Fatal("no timer for the held request")
		}
		d := due.Sub(clock.Now())
		clock.AdvanceTo(due)
		<-done
		return d
	}
	d1, d1again, d2 := delay(1), delay(1), delay(2)
	if d1 != d1again || d1 == d2 {
		t.Errorf("delays: seed 1 %v and %v, seed 2 %v", d1, d1again, d2)
	}
	for _, d := range []time.Duration{d1, d2} {
		if d < time.Second || d >= 2*time.Second {
			t.Errorf("delay %v outside Delay+[0, DelayJitter)", d)
		}
	}
}
