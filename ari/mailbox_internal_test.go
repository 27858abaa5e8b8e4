package ari

import (
	"sync"
	"testing"
	"time"
)

// seqDrainer records what it takes; got is not locked on purpose: two
// drainers at once would be a data race the race detector reports.
type seqDrainer struct {
	mb       *mailbox
	got      []int
	finished int
}

func (d *seqDrainer) drain() {
	for {
		msg, ok, closed := d.mb.take()
		if !ok {
			if closed {
				d.finished++
				d.mb.finish()
			}
			return
		}
		d.got = append(d.got, msg.(int))
	}
}

// A started mailbox hands every message, in order, to one drainer at a time,
// though posts come from several goroutines and drainers come and go; a
// close reaches a flow that has no goroutine, and it finishes once.
func TestStartedMailboxDrainsInOrder(t *testing.T) {
	const posters, each = 4, 2000
	d := &seqDrainer{mb: &mailbox{}}
	d.mb.post(-1) // before start: waits for it
	d.mb.start(d)
	var wg sync.WaitGroup
	for p := range posters {
		wg.Go(func() {
			for i := range each {
				if !d.mb.post(p*each + i) {
					t.Error("post refused before close")
					return
				}
			}
		})
	}
	wg.Wait()
	d.mb.close()
	select {
	case <-d.mb.doneChan():
	case <-time.After(10 * time.Second):
		t.Fatal("the flow did not finish after close")
	}
	if d.mb.post(0) {
		t.Error("post accepted after close")
	}
	if d.finished != 1 {
		t.Errorf("finished %d times, want once", d.finished)
	}
	if len(d.got) != 1+posters*each || d.got[0] != -1 {
		t.Fatalf("took %d messages (first %v), want %d starting with the one posted before start", len(d.got), d.got[:min(1, len(d.got))], 1+posters*each)
	}
	next := make([]int, posters)
	for _, v := range d.got[1:] {
		p := v / each
		if v != p*each+next[p] {
			t.Fatalf("poster %d: took %d, want %d: out of order", p, v, p*each+next[p])
		}
		next[p]++
	}
}

// Posts before start only queue: a flow whose registration was declined
// never runs.
func TestMailboxPostsBeforeStartOnlyQueue(t *testing.T) {
	d := &seqDrainer{mb: &mailbox{}}
	d.mb.post(1)
	d.mb.close()
	if len(d.got) != 0 || d.finished != 0 || d.mb.len() != 1 {
		t.Fatalf("took %v, finished %d, %d pending: a mailbox not started was drained", d.got, d.finished, d.mb.len())
	}
}

// An abandoned flow without a goroutine ends too, with nothing taken.
func TestStartedMailboxAbandonEndsAnIdleFlow(t *testing.T) {
	d := &seqDrainer{mb: &mailbox{}}
	d.mb.start(d)
	d.mb.post(1)
	d.mb.abandon()
	select {
	case <-d.mb.doneChan():
	case <-time.After(10 * time.Second):
		t.Fatal("the flow did not finish after abandon")
	}
	if d.finished != 1 || len(d.got) > 1 {
		t.Fatalf("finished %d times, took %v", d.finished, d.got)
	}
}
