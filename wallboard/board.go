package wallboard

import (
	"fmt"
	"math"
	"time"

	"callmon/metrics"
	"callmon/ui"
)

// Level is how a figure stands against its alert rule: "ok" or "alert" ("none" where there
// is nothing to judge yet). The page colours by it and always says it in words too.
type Level string

// The levels.
const (
	OK    Level = "ok"
	Alert Level = "alert"
	None  Level = "none"
)

// Rule is the alert rule of grafana/rules/callmon.rules.yml that a colour of the wallboard
// follows: the rule's expression holds each of Terms, in order, so the page turns red exactly
// where the rule would fire (without the rule's hold time). TestColoursFollowTheAlertRules
// reads the rules file.
type Rule struct {
	Alert string
	Terms []string
}

// The rules the wallboard's colours follow, and the comparisons below are theirs.
var (
	RuleServiceLevel = Rule{"CallmonServiceLevelTodayBelowTarget", []string{`callmon_service_level_ratio{window="today"}`, "<", "callmon_queue_target_ratio"}}
	RuleOldestWait   = Rule{"CallmonCallerWaitingOverThreshold", []string{"callmon_oldest_waiting_call_seconds", ">", "callmon_queue_threshold_seconds"}}
	RuleUnderstaffed = Rule{"CallmonUnderstaffedNextInterval", []string{`callmon_queue_agents_needed{interval="next", model="erlang_a"}`, ">", `callmon_agents{state=~"available|ringing|on_call"}`}}
	RuleCallbacks    = Rule{"CallmonCallbacksOverdue", []string{"callmon_callbacks_overdue > 0"}}
	RuleVoicemails   = Rule{"CallmonVoicemailUnheard", []string{"callmon_voicemails_overdue > 0"}}
	RuleARI          = Rule{"CallmonARIDisconnected", []string{"callmon_ari_connected == 0"}}
	Rules            = []Rule{RuleServiceLevel, RuleOldestWait, RuleUnderstaffed, RuleCallbacks, RuleVoicemails, RuleARI}
)

// The comparisons of the rules above.
func serviceLevel(ratio, target float64) Level { return when(ratio < target) }
func oldestWait(oldest, threshold time.Duration) Level {
	return when(oldest > threshold)
}
func understaffed(needed float64, staffed int) Level {
	if math.IsNaN(needed) {
		return None
	}
	return when(needed > float64(staffed))
}
func overdue(n int) Level { return when(n > 0) }

func when(alert bool) Level {
	if alert {
		return Alert
	}
	return OK
}

// Backoffice is what the wallboard reads from PostgreSQL: callbacks and voicemails.
type Backoffice struct {
	CallbacksDue, CallbacksOverdue       int
	VoicemailsUnheard, VoicemailsOverdue int
}

// state is everything one picture of the board is made of.
type state struct {
	At         time.Time
	ARI        bool
	DB         bool // Backoffice could be read (or there is no database: HasDB false)
	HasDB      bool
	Queues     []metrics.QueueSnapshot
	Backoffice Backoffice
}

// tile is one figure as the page shows it.
type tile struct {
	Label, Value, Status string
	Level                Level
}

// queueView is one queue's tiles.
type queueView struct {
	Title  string
	Closed string // "" when open
	Tiles  []tile
}

// boardView is what board.html renders.
type boardView struct {
	Lang, Other     ui.Lang
	Updated         string
	Banners         []string
	Queues          []queueView
	Backoffice      []tile
	BackofficeTitle string
	HasBackoffice   bool
}

// view turns a state into the words and levels of one language.
func view(s state, l ui.Lang) boardView {
	v := boardView{Lang: l, Other: l.Other(), Updated: l.F("updated", l.Clock(s.At)), HasBackoffice: s.HasDB}
	if !s.ARI {
		v.Banners = append(v.Banners, l.T("ari-lost"))
	}
	if s.HasDB && !s.DB {
		v.Banners = append(v.Banners, l.T("db-lost"))
	}
	for _, q := range s.Queues {
		qv := queueView{Title: l.F("queue", q.Name)}
		if !q.Open {
			qv.Closed = l.T("closed")
		}
		target := l.F("target", ui.Percent(q.Target))
		sl := func(label string, ratio float64) tile {
			lv := serviceLevel(ratio, q.Target)
			st := l.T("on-target")
			if lv == Alert {
				st = l.T("below-target")
			}
			return tile{Label: label, Value: ui.Percent(ratio), Status: st + " (" + target + ")", Level: lv}
		}
		thr := ui.Wait(q.Threshold)
		oldest := tile{Label: l.T("oldest"), Value: ui.Wait(q.Oldest), Level: oldestWait(q.Oldest, q.Threshold), Status: l.F("within-threshold", thr)}
		if oldest.Level == Alert {
			oldest.Status = l.F("over-threshold", thr)
		}
		expected := l.T("no-agents")
		if !math.IsInf(q.ExpectedWait, 1) && !math.IsNaN(q.ExpectedWait) {
			expected = ui.Wait(time.Duration(q.ExpectedWait * float64(time.Second)))
		}
		staffed := q.Agents["available"] + q.Agents["ringing"] + q.Agents["on_call"]
		needed := "–"
		if !math.IsNaN(q.NeededNext) && q.NeededNext >= 0 {
			needed = fmt.Sprint(int(q.NeededNext))
		}
		st := tile{Label: l.T("needed"), Value: needed, Level: understaffed(q.NeededNext, staffed)}
		switch st.Level {
		case Alert:
			st.Status = l.T("understaffed") + ": " + l.F("staffed-of", staffed, needed)
		case OK:
			st.Status = l.T("enough") + ": " + l.F("staffed-of", staffed, needed)
		default:
			st.Status = l.T("no-advice")
		}
		qv.Tiles = []tile{
			sl(l.T("sl-today"), q.Today),
			sl(l.T("sl-interval"), q.Interval),
			{Label: l.T("waiting"), Value: fmt.Sprint(q.Waiting), Level: None, Status: l.T("expected") + ": " + expected},
			oldest,
			{Label: l.T("agents"), Value: fmt.Sprint(q.Agents["available"]), Level: None,
				Status: fmt.Sprintf("%s · %d %s · %d %s", l.T("available"), q.Agents["on_call"]+q.Agents["ringing"], l.T("on-call"), q.Agents["paused"], l.T("paused"))},
			st,
		}
		v.Queues = append(v.Queues, qv)
	}
	if s.HasDB {
		b := s.Backoffice
		cb := tile{Label: l.T("callbacks"), Value: fmt.Sprint(b.CallbacksDue), Level: overdue(b.CallbacksOverdue),
			Status: fmt.Sprintf("%s · %d %s", l.T("due"), b.CallbacksOverdue, l.T("overdue"))}
		vm := tile{Label: l.T("voicemails"), Value: fmt.Sprint(b.VoicemailsUnheard), Level: overdue(b.VoicemailsOverdue),
			Status: fmt.Sprintf("%s · %d %s", l.T("unheard"), b.VoicemailsOverdue, l.T("overdue"))}
		if !s.DB {
			cb.Level, vm.Level = None, None
			cb.Value, vm.Value = "?", "?"
			cb.Status, vm.Status = l.T("unknown"), l.T("unknown")
		}
		v.Backoffice = []tile{cb, vm}
		v.BackofficeTitle = l.T("callbacks") + " · " + l.T("voicemails")
	}
	return v
}
