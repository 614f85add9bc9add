package ledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/brazegw/gateway/event"
)

func sent(id string, at time.Time) *event.Result {
	return &event.Result{ID: id, Source: "/s", Type: "braze.campaigns.trigger.send", Outcome: event.OutcomeSent, CompletedAt: at}
}

func TestSentOnlyForSentOutcomes(t *testing.T) {
	l := New(Config{})
	now := time.Now()
	l.Record(sent("a", now))
	l.Record(&event.Result{ID: "b", Source: "/s", Outcome: event.OutcomeDeadLettered, CompletedAt: now})
	l.Record(&event.Result{ID: "c", Source: "/s", Outcome: event.OutcomeExpired, CompletedAt: now})
	l.Record(&event.Result{ID: "d", Source: "/s", Outcome: event.OutcomeDuplicate, CompletedAt: now})
	for id, want := range map[string]bool{"a": true, "b": false, "c": false, "d": true, "e": false} {
		if got := l.Sent("/s", id); got != want {
			t.Errorf("Sent(%q) = %v, want %v", id, got, want)
		}
	}
	if l.Sent("/other", "a") {
		t.Error("identity must include the source")
	}
}

// TestIdentityCalls checks that the calls taking an Identity agree with
// those that hash (source, id) themselves.
func TestIdentityCalls(t *testing.T) {
	l := New(Config{})
	now := time.Now()
	a := sent("a", now)
	l.RecordIdentity(a, l.Identity(a.Source, a.ID))
	l.Record(sent("b", now))
	for id, want := range map[string]bool{"a": true, "b": true, "c": false} {
		if got := l.SentIdentity(l.Identity("/s", id)); got != want || l.Sent("/s", id) != want {
			t.Errorf("SentIdentity(%q) = %v, Sent %v; want %v", id, got, l.Sent("/s", id), want)
		}
	}
	if l.Identity("/s", "a") == l.Identity("/t", "a") {
		t.Error("the identity must include the source")
	}
}

func TestLookBackAndCap(t *testing.T) {
	l := New(Config{LookBack: time.Hour, MaxEntries: 3})
	now := time.Now()
	l.Record(sent("old", now.Add(-2*time.Hour))) // outside the look-back: never held
	if l.Sent("/s", "old") {
		t.Fatal("an outcome older than the look-back is remembered")
	}
	for i := range 5 {
		l.Record(sent(fmt.Sprint(i), now.Add(time.Duration(i)*time.Second)))
	}
	if n, _ := l.Len(); n > 3 {
		t.Fatalf("%d identities held, cap 3", n)
	}
	if l.Sent("/s", "0") || l.Sent("/s", "1") || !l.Sent("/s", "4") {
		t.Fatal("the oldest identities must go first")
	}
}

func TestScheduleKeysLatestCompletionWins(t *testing.T) {
	l := New(Config{})
	t0 := time.Now()
	op := func(typ, id string, at time.Time) *event.Result {
		return &event.Result{ID: id + typ, Source: "/s", Type: typ, Outcome: event.OutcomeSent, CompletedAt: at,
			Workspace: "default", ScheduleKey: "k", ScheduleID: id}
	}
	// The delete is read before the create (another partition of the
	// results topic): the later completion must still win.
	l.Record(op("braze.messages.schedule.delete", "s1", t0.Add(time.Second)))
	l.Record(op("braze.messages.schedule.create", "s1", t0))
	if id, ok := l.ScheduleID("default", "k"); ok {
		t.Fatalf("key resolves to %q after its delete", id)
	}
	l.Record(op("braze.messages.schedule.create", "s2", t0.Add(2*time.Second)))
	if id, ok := l.ScheduleID("default", "k"); !ok || id != "s2" {
		t.Fatalf("ScheduleID = %q, %v; want s2 after a new create", id, ok)
	}
	if _, ok := l.ScheduleID("eu", "k"); ok {
		t.Fatal("keys are per workspace")
	}
	// A failed create does not define the key.
	l.Record(&event.Result{ID: "x", Source: "/s", Type: "braze.messages.schedule.create", Outcome: event.OutcomeDeadLettered,
		CompletedAt: t0.Add(3 * time.Second), Workspace: "default", ScheduleKey: "k2", ScheduleID: "s3"})
	if _, ok := l.ScheduleID("default", "k2"); ok {
		t.Fatal("a dead-lettered create defined a schedule key")
	}
	if _, keys := l.Len(); keys != 1 {
		t.Fatalf("%d live schedule keys, want 1", keys)
	}
}
