package events

import (
	"testing"
)

func TestHubFansOut(t *testing.T) {
	t.Parallel()
	var h Hub
	a, cancelA := h.Subscribe()
	b, cancelB := h.Subscribe()
	defer cancelB()
	h.Publish(Event{Kind: Incident, IncidentID: 7, Created: true})
	for name, ch := range map[string]<-chan Event{"a": a, "b": b} {
		if got := <-ch; got.IncidentID != 7 || !got.Created {
			t.Errorf("subscriber %s got %+v, want incident 7 created", name, got)
		}
	}
	cancelA()
	if _, ok := <-a; ok {
		t.Error("a cancelled subscription's channel is open")
	}
	h.Publish(Event{Kind: Action, ActionID: "x"}) // a is gone: must not panic
	if got := <-b; got.ActionID != "x" {
		t.Errorf("b got %+v, want action x", got)
	}
}

func TestHubOverflowNeverBlocks(t *testing.T) {
	t.Parallel()
	var h Hub
	ch, cancel := h.Subscribe()
	defer cancel()
	for i := range buffer + 10 {
		h.Publish(Event{Kind: Incident, IncidentID: int64(i + 1)})
	}
	for range buffer {
		<-ch
	}
	h.Publish(Event{Kind: Incident, IncidentID: 999})
	if got := <-ch; !got.Overflow {
		t.Errorf("after dropping events the subscriber got %+v, want Overflow", got)
	}
	if got := <-ch; got.IncidentID != 999 {
		t.Errorf("after the overflow the subscriber got %+v, want incident 999", got)
	}
}

func TestHubCloseEndsSubscriptions(t *testing.T) {
	t.Parallel()
	var h Hub
	ch, cancel := h.Subscribe()
	h.Close()
	if _, ok := <-ch; ok {
		t.Error("Close left a subscription open")
	}
	cancel() // after Close: must not panic
	late, _ := h.Subscribe()
	if _, ok := <-late; ok {
		t.Error("a subscription after Close is open")
	}
	var nilHub *Hub
	nilHub.Publish(Event{Kind: Incident})
	if _, ok := <-func() <-chan Event { c, _ := nilHub.Subscribe(); return c }(); ok {
		t.Error("a nil hub's subscription is open")
	}
}
