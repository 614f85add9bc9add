package pipeline

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/brazegw/gateway/event"
)

// resolveScheduleKey fills in the schedule_id of an update or delete that
// names its schedule by brazeschedulekey (DESIGN.md §2, schedule keys). It
// returns the body to send (nil: the event's data unchanged) and the
// schedule_id the event acts on.
func (p *Pipeline) resolveScheduleKey(ctx context.Context, ev *event.Event) ([]byte, string, error) {
	op := ev.Spec.Schedule
	if op != event.ScheduleUpdate && op != event.ScheduleDelete {
		return nil, "", nil
	}
	var body struct {
		ScheduleID *string `json:"schedule_id"`
	}
	_ = json.Unmarshal(ev.Data, &body) // validated already
	if body.ScheduleID != nil {
		return nil, *body.ScheduleID, nil // the producer named it
	}
	if ev.ScheduleKey == "" || p.ledger == nil {
		return nil, "", fmt.Errorf("no schedule_id and no brazeschedulekey")
	}
	id, ok := p.ledger.ScheduleID(ev.Workspace, ev.ScheduleKey)
	if !ok {
		// Another replica may have created it: wait until every result
		// written so far has been read, then look again.
		sctx, cancel := context.WithTimeout(ctx, p.cfg.ScheduleKeyWait)
		err := p.sync(sctx)
		cancel()
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		if err == nil {
			id, ok = p.ledger.ScheduleID(ev.Workspace, ev.ScheduleKey)
		}
	}
	if !ok {
		return nil, "", fmt.Errorf("schedule key %q of workspace %q is unknown: no schedule was created with it, or it was deleted",
			truncate(ev.ScheduleKey, 200), ev.Workspace)
	}
	return event.WithField(ev.Data, "schedule_id", id), id, nil
}
