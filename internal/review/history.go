package review

import (
	"fmt"
	"slices"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// executeActivity is the activity that carries an action out; its
// completion in the history is when the action's effect happened.
const executeActivity = "ExecuteAction"

// history is what the workflow histories say.
type history struct {
	started      time.Time
	acknowledged *Milestone
	contained    *Milestone
	resolved     *Milestone
	// changes are the incident-changed signals, in order.
	changes []change
	// logged are the changes the activity log has and the history lacks;
	// unsignalled holds their audit ids.
	logged      []change
	unsignalled map[int64]bool
	timeline    []Entry
	notes       []string
}

// change is a change by hand to a field of the incident.
type change struct {
	At                  time.Time
	Field, From, To, By string
	Source              Source
}

// readHistory reads the runs' events: when the investigation started,
// the incident-changed signals, the accepted Updates (decide, undo,
// request), the completed executions of actions, and each run's steps
// (from its result). Only event timestamps set by the Temporal server are
// used for times, except for steps, which carry the workflow time they ran.
//
// For a scoped reader (acts then holds only the actions they may see), the
// events about other actions are left out: their decisions and requests do
// not acknowledge, their executions do not contain, their steps are not
// listed.
func readHistory(runs [][]*historypb.HistoryEvent, acts []domain.Action, scoped bool) *history {
	h := &history{unsignalled: map[int64]bool{}}
	dc := converter.GetDefaultDataConverter()
	byID := map[string]domain.Action{}
	for _, a := range acts {
		byID[a.ID] = a
	}
	investigations := 0
	for _, events := range runs {
		var in workflows.IncidentInput
		scheduled := map[int64]remediation.Request{}
		for _, ev := range events {
			at := ev.GetEventTime().AsTime()
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				attr := ev.GetWorkflowExecutionStartedEventAttributes()
				in = workflows.IncidentInput{}
				if err := dc.FromPayloads(attr.GetInput(), &in); err != nil {
					h.notes = append(h.notes, fmt.Sprintf("undecodable workflow input at %s: %v", at.Format(time.RFC3339), err))
				}
				if in.ChangeOnly {
					continue // the change it carries is the entry
				}
				what := "investigation started"
				switch {
				case attr.GetContinuedExecutionRunId() != "":
					what = "investigation continued in a new run (history cut)"
				case investigations > 0:
					what = "investigation started again (new alerts or a decision after it had finished)"
				}
				investigations++
				if h.started.IsZero() {
					h.started = at
				}
				h.timeline = append(h.timeline, Entry{At: at, Kind: KindInvestigation, What: what, By: "system:investigation",
					Ref: attr.GetOriginalExecutionRunId(), Source: FromHistory})

			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				attr := ev.GetWorkflowExecutionSignaledEventAttributes()
				switch attr.GetSignalName() {
				case workflows.SignalIncidentChanged:
					var sig workflows.IncidentChange
					if err := dc.FromPayloads(attr.GetInput(), &sig); err != nil {
						h.notes = append(h.notes, fmt.Sprintf("undecodable incident change at %s: %v", at.Format(time.RFC3339), err))
						continue
					}
					for _, ch := range sig.Fields() {
						c := change{At: at, Field: ch.Field, From: ch.From, To: ch.To, By: ch.By, Source: FromHistory}
						h.changes = append(h.changes, c)
						what := fmt.Sprintf("%s %s → %s", c.Field, orNone(c.From), orNone(c.To))
						if h.acknowledged == nil && store.IsHuman(c.By) {
							h.acknowledged = &Milestone{At: at, By: c.By, What: what, Source: FromHistory}
						}
						if c.Field == workflows.FieldStatus && c.To == string(domain.IncidentResolved) {
							h.resolved = &Milestone{At: at, By: c.By, What: what, Source: FromHistory}
						}
					}
				case workflows.SignalAlertsAdded:
					var sig workflows.AlertsAdded
					if err := dc.FromPayloads(attr.GetInput(), &sig); err == nil && len(sig.AlertIDs) > 0 {
						h.timeline = append(h.timeline, Entry{At: at, Kind: KindInvestigation,
							What: fmt.Sprintf("%d alert(s) signalled to the investigation", len(sig.AlertIDs)),
							By:   "system:ingest", Source: FromHistory})
					}
				}

			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
				if h.acknowledged != nil {
					continue
				}
				req := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput()
				by, what, ref := updateAct(dc, req.GetName(), req.GetArgs(), byID)
				if _, seen := byID[ref]; scoped && !seen {
					continue // a request, or a decision on an action the reader may not see
				}
				if store.IsHuman(by) {
					h.acknowledged = &Milestone{At: at, By: by, What: what, Source: FromHistory}
				}

			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				attr := ev.GetActivityTaskScheduledEventAttributes()
				if attr.GetActivityType().GetName() != executeActivity {
					continue
				}
				var req remediation.Request
				if err := dc.FromPayloads(attr.GetInput(), &req); err == nil {
					scheduled[ev.GetEventId()] = req
				}

			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				req, ok := scheduled[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]
				if _, seen := byID[req.ActionID]; !ok || h.contained != nil || !actions.IsContainment(req.Type) || scoped && !seen {
					continue
				}
				what := req.Type + " succeeded"
				if a, ok := byID[req.ActionID]; ok { // not for an action outside a scoped reader's groups
					target := a.TargetName
					if target == "" {
						target = string(a.TargetKey)
					}
					what = fmt.Sprintf("%s on %s succeeded (action %s)", req.Type, target, req.ActionID)
				}
				h.contained = &Milestone{At: at, By: byID[req.ActionID].DecidedBy, What: what, Source: FromHistory}

			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
				var st workflows.State
				if err := dc.FromPayloads(ev.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &st); err != nil {
					h.notes = append(h.notes, fmt.Sprintf("undecodable investigation result at %s: %v", at.Format(time.RFC3339), err))
					continue
				}
				if st.ChangeOnly {
					continue
				}
				steps := st.Steps
				if scoped {
					steps = slices.DeleteFunc(steps, func(r workflows.StepRecord) bool {
						_, seen := byID[r.Action()]
						return r.Action() != "" && !seen
					})
				}
				h.steps(steps, at)
				what := "investigation finished: " + string(st.Investigation)
				if st.Error != "" {
					what += " (" + st.Error + ")"
				}
				h.timeline = append(h.timeline, Entry{At: at, Kind: KindInvestigation, What: what,
					By: "system:investigation", Source: FromHistory})

			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
				enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
				h.timeline = append(h.timeline, Entry{At: at, Kind: KindInvestigation,
					What: "investigation run ended: " + ev.GetEventType().String(), By: "system:investigation", Source: FromHistory})
			}
		}
		if !in.ChangeOnly && len(events) > 0 && events[len(events)-1].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
			h.notes = append(h.notes, "the steps of runs that continued as new are not in their history (only a completed run's result lists them)")
		}
	}
	return h
}

// steps adds a completed run's steps to the timeline, each stage marked
// where its first step ran. Steps recorded before steps were timed take
// the run's completion time.
func (h *history) steps(steps []workflows.StepRecord, completed time.Time) {
	stages := map[string]bool{}
	for _, s := range steps {
		at := s.At
		if at.IsZero() {
			at = completed
		}
		if key := s.Playbook + "/" + string(s.Stage); !stages[key] {
			stages[key] = true
			h.timeline = append(h.timeline, Entry{At: at, Kind: KindStage,
				What: fmt.Sprintf("%s stage of playbook %s", s.Stage, s.Playbook), By: "system:investigation",
				Ref: string(s.Stage), Source: FromHistory})
		}
		what := s.Step
		if s.Item != "" {
			what += " [" + s.Item + "]"
		}
		h.timeline = append(h.timeline, Entry{At: at, Kind: KindStep, What: fmt.Sprintf("%s: %s", what, s.Outcome),
			By: "system:playbook:" + s.Playbook, Ref: string(s.Stage), Source: FromHistory})
	}
}

// updateAct decodes an accepted Update: who sent it and what it asked.
func updateAct(dc converter.DataConverter, name string, args *commonpb.Payloads, byID map[string]domain.Action) (by, what, ref string) {
	label := func(id string) string {
		if a, ok := byID[id]; ok {
			return fmt.Sprintf("%s on %s (action %s)", a.Type, a.TargetName, id)
		}
		return "action " + id
	}
	switch name {
	case workflows.UpdateDecide:
		var req workflows.DecideRequest
		if dc.FromPayloads(args, &req) == nil {
			return req.By, fmt.Sprintf("%s %s", req.Decision, label(req.ActionID)), req.ActionID
		}
	case workflows.UpdateUndo:
		var req workflows.UndoRequest
		if dc.FromPayloads(args, &req) == nil {
			return req.By, "undo " + label(req.ActionID), req.ActionID
		}
	case workflows.UpdateRequest:
		var req workflows.ManualRequest
		if dc.FromPayloads(args, &req) == nil {
			return req.By, fmt.Sprintf("asked for %s on %s", req.Type, req.Target), ""
		}
	}
	return "", "", ""
}
