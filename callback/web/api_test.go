package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/callback/tasks"
)

type taskList struct {
	Tasks []tasks.Task `json:"tasks"`
}

func listIDs(e *env, path, who string) []int64 {
	e.t.Helper()
	var l taskList
	e.call("GET", path, who, nil, http.StatusOK, &l)
	ids := []int64{}
	for _, t := range l.Tasks {
		ids = append(ids, t.ID)
	}
	return ids
}

func sameIDs(t *testing.T, what string, got []int64, want ...int64) {
	t.Helper()
	if want == nil {
		want = []int64{}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: tasks %v, want %v", what, got, want)
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	task := e.create("anna", agreed("general", at(14, 30)))
	if task.ID == 0 || task.Kind != tasks.KindAgreedByAgent || task.Queue != "general" || task.Assignee != "anna" ||
		task.Number != "+31612345678" || task.CallerName != "J. de Vries" || task.Status != tasks.Pending ||
		!task.WindowStart.Equal(at(14, 30)) || !task.WindowEnd.Equal(at(14, 45)) || task.Notes != "asked about her permit" {
		t.Errorf("created %+v", task)
	}
	if got := e.get(task.ID); got.Version != task.Version || got.Number != "+31612345678" {
		t.Errorf("stored %+v", got)
	}

	// A datetime-local time (no zone) is Amsterdam time; 050 numbers work.
	body := agreed("permits", t0)
	body["window_start"], body["window_end"], body["number"] = "2026-11-24T16:00", "2026-11-24T16:15", "+31 (0)50 316 49 11"
	local := e.create("anna", body)
	if !local.WindowStart.Equal(at(16, 0)) || !local.WindowEnd.Equal(at(16, 15)) || local.Number != "+31503164911" {
		t.Errorf("local times: %+v", local)
	}

	// A supervisor's callback goes to the queue's pool.
	pool := e.create("sam", agreed("licences", at(11, 0)))
	if pool.Assignee != "" {
		t.Errorf("supervisor's task assigned to %q, want the pool", pool.Assignee)
	}

	// Idempotency-Key: a retried request returns the first task.
	send := func() (int, tasks.Task) {
		b, _ := json.Marshal(agreed("general", at(15, 0)))
		req, _ := http.NewRequest("POST", e.ts.URL+"/api/tasks", strings.NewReader(string(b)))
		e.authorize(req, "anna")
		req.Header.Set("Idempotency-Key", "call-42")
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got tasks.Task
		json.NewDecoder(resp.Body).Decode(&got)
		return resp.StatusCode, got
	}
	s1, first := send()
	s2, second := send()
	if s1 != http.StatusCreated || s2 != http.StatusOK || first.ID == 0 || first.ID != second.ID {
		t.Errorf("idempotent create: %d %d, ids %d %d", s1, s2, first.ID, second.ID)
	}
}

func TestGetAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	annaOwn := e.create("anna", agreed("general", at(14, 0)))
	bramOwn := e.create("bram", agreed("permits", at(14, 0)))
	permitsPool := e.seed("permits", at(9, 0)) // overdue at t0 (10:00)
	licencesPool := e.seed("licences", at(11, 0))
	generalPool := e.seed("general", at(12, 0))
	done := e.seed("general", at(13, 0))
	e.call("POST", fmt.Sprintf("/api/tasks/%d/complete", done.ID), "anna",
		map[string]any{"version": done.Version, "result": "reached"}, http.StatusOK, nil)

	var got tasks.Task
	e.call("GET", fmt.Sprintf("/api/tasks/%d", annaOwn.ID), "anna", nil, http.StatusOK, &got)
	if got.ID != annaOwn.ID || got.Version != annaOwn.Version {
		t.Errorf("GET: %+v", got)
	}
	e.call("GET", fmt.Sprintf("/api/tasks/%d", permitsPool.ID), "bram", nil, http.StatusOK, &got)
	e.call("GET", fmt.Sprintf("/api/tasks/%d", licencesPool.ID), "sam", nil, http.StatusOK, &got)

	sameIDs(t, "anna, default view", listIDs(e, "/api/tasks", "anna"), annaOwn.ID, permitsPool.ID, generalPool.ID)
	sameIDs(t, "anna, mine", listIDs(e, "/api/tasks?view=mine", "anna"), annaOwn.ID)
	sameIDs(t, "anna, pool", listIDs(e, "/api/tasks?view=pool", "anna"), permitsPool.ID, generalPool.ID)
	sameIDs(t, "anna, pool of permits", listIDs(e, "/api/tasks?view=pool&queue=permits", "anna"), permitsPool.ID)
	sameIDs(t, "anna, overdue", listIDs(e, "/api/tasks?view=overdue", "anna"), permitsPool.ID)
	sameIDs(t, "anna, done", listIDs(e, "/api/tasks?status=done", "anna"), done.ID)
	sameIDs(t, "anna, all statuses", listIDs(e, "/api/tasks?status=all", "anna"),
		annaOwn.ID, permitsPool.ID, generalPool.ID, done.ID)
	sameIDs(t, "bram, default view", listIDs(e, "/api/tasks", "bram"), bramOwn.ID, permitsPool.ID, licencesPool.ID)
	sameIDs(t, "sam, everything", listIDs(e, "/api/tasks", "sam"),
		annaOwn.ID, bramOwn.ID, permitsPool.ID, licencesPool.ID, generalPool.ID)
	sameIDs(t, "sam, as anna", listIDs(e, "/api/tasks?agent=anna", "sam"), annaOwn.ID, permitsPool.ID, generalPool.ID)
	sameIDs(t, "sam, bram's own", listIDs(e, "/api/tasks?agent=bram&view=mine", "sam"), bramOwn.ID)
	sameIDs(t, "sam, queue permits", listIDs(e, "/api/tasks?queue=permits", "sam"), bramOwn.ID, permitsPool.ID)
	sameIDs(t, "sam, every pool", listIDs(e, "/api/tasks?view=pool", "sam"), permitsPool.ID, licencesPool.ID, generalPool.ID)
	sameIDs(t, "sam, overdue", listIDs(e, "/api/tasks?view=overdue", "sam"), permitsPool.ID)
	sameIDs(t, "sam, limit", listIDs(e, "/api/tasks?limit=1", "sam"), permitsPool.ID)
}

func TestClaimCompleteRescheduleCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := func(id int64, action string) string { return fmt.Sprintf("/api/tasks/%d/%s", id, action) }

	// Claim a pool task: it becomes bram's, with a lease.
	pool := e.seed("permits", at(9, 45))
	var claimed tasks.Task
	e.call("POST", path(pool.ID, "claim"), "bram", map[string]any{"version": pool.Version}, http.StatusOK, &claimed)
	if claimed.Status != tasks.Claimed || claimed.Assignee != "bram" || claimed.LeaseOwner != "bram" ||
		!claimed.LeaseExpires.Equal(t0.Add(15*time.Minute)) || claimed.Version != pool.Version+1 {
		t.Errorf("claimed: %+v", claimed)
	}
	// Now it is bram's: anna may no longer touch it.
	e.call("GET", fmt.Sprintf("/api/tasks/%d", pool.ID), "anna", nil, http.StatusForbidden, nil)

	// Complete: reached.
	var done tasks.Task
	e.call("POST", path(pool.ID, "complete"), "bram",
		map[string]any{"version": claimed.Version, "result": "reached", "notes": "permit sent"}, http.StatusOK, &done)
	if done.Status != tasks.Done || done.Result != "reached" || done.Attempts != 1 || !strings.HasSuffix(done.Notes, "permit sent") {
		t.Errorf("done: %+v", done)
	}
	if got := e.get(pool.ID); got.Status != tasks.Done || got.Version != done.Version {
		t.Errorf("stored after done: %+v", got)
	}

	// No answer: back to pending in the next slot after now.
	own := e.create("anna", agreed("general", at(10, 0)))
	var again tasks.Task
	e.call("POST", path(own.ID, "complete"), "anna",
		map[string]any{"version": own.Version, "result": "no_answer"}, http.StatusOK, &again)
	if again.Status != tasks.Pending || again.Attempts != 1 || !again.WindowStart.Equal(at(10, 15)) || !again.WindowEnd.Equal(at(10, 30)) {
		t.Errorf("no answer: %+v", again)
	}

	// Wrong number: failed.
	wrong := e.create("anna", agreed("general", at(11, 0)))
	var failed tasks.Task
	e.call("POST", path(wrong.ID, "complete"), "anna",
		map[string]any{"version": wrong.Version, "result": "wrong_number"}, http.StatusOK, &failed)
	if failed.Status != tasks.Failed || failed.Result != "wrong_number" {
		t.Errorf("wrong number: %+v", failed)
	}

	// Reschedule inside opening hours, with a datetime-local time.
	var moved tasks.Task
	e.call("POST", path(again.ID, "reschedule"), "anna", map[string]any{
		"version": again.Version, "window_start": "2026-11-25T09:00", "window_end": "2026-11-25T09:30", "notes": "after lunch",
	}, http.StatusOK, &moved)
	if moved.Status != tasks.Pending || !moved.WindowStart.Equal(time.Date(2026, 11, 25, 9, 0, 0, 0, ams)) ||
		!moved.WindowEnd.Equal(time.Date(2026, 11, 25, 9, 30, 0, 0, ams)) || !strings.HasSuffix(moved.Notes, "after lunch") {
		t.Errorf("rescheduled: %+v", moved)
	}

	// Cancel.
	var cancelled tasks.Task
	e.call("POST", path(moved.ID, "cancel"), "anna",
		map[string]any{"version": moved.Version, "reason": "solved by e-mail"}, http.StatusOK, &cancelled)
	if cancelled.Status != tasks.Cancelled || !strings.HasSuffix(cancelled.Notes, "solved by e-mail") {
		t.Errorf("cancelled: %+v", cancelled)
	}

	// A supervisor may act on any task.
	other := e.create("bram", agreed("licences", at(12, 0)))
	e.call("POST", path(other.ID, "cancel"), "sam", map[string]any{"version": other.Version, "reason": "duplicate"}, http.StatusOK, nil)

	// A task a dispatcher is dialling is not the agent's to change.
	dialled := e.create("anna", agreed("general", at(9, 50)))
	claimedByDispatcher, err := e.store.ClaimDue(context.Background(), "general", "dispatcher-1", 10, time.Minute, t0)
	if err != nil || len(claimedByDispatcher) != 1 {
		t.Fatalf("ClaimDue: %v, %d tasks", err, len(claimedByDispatcher))
	}
	before := e.snapshot()
	status, b := e.request("POST", path(dialled.ID, "cancel"), "anna", map[string]any{"version": claimedByDispatcher[0].Version})
	if status != http.StatusConflict || !strings.Contains(string(b), "dispatcher-1") {
		t.Errorf("cancel during a dispatcher's lease: %d %s", status, b)
	}
	e.unchanged(before, "cancel during a dispatcher's lease")
}

// TestStaleVersion: a change made with a version someone else has already
// moved past is refused with 409 and the current task, and changes nothing.
func TestStaleVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	task := e.create("anna", agreed("general", at(10, 0)))
	e.call("POST", fmt.Sprintf("/api/tasks/%d/claim", task.ID), "anna", map[string]any{"version": task.Version}, http.StatusOK, nil)
	before := e.snapshot()
	current := e.get(task.ID)
	for _, tc := range []struct {
		action string
		body   map[string]any
	}{
		{"claim", map[string]any{"version": task.Version}},
		{"complete", map[string]any{"version": task.Version, "result": "reached"}},
		{"reschedule", map[string]any{"version": task.Version, "window_start": "2026-11-25T09:00", "window_end": "2026-11-25T09:15"}},
		{"cancel", map[string]any{"version": task.Version, "reason": "x"}},
	} {
		status, b := e.request("POST", fmt.Sprintf("/api/tasks/%d/%s", task.ID, tc.action), "anna", tc.body)
		var got struct {
			Error string      `json:"error"`
			Task  *tasks.Task `json:"task"`
		}
		json.Unmarshal(b, &got)
		if status != http.StatusConflict || got.Error == "" || got.Task == nil || got.Task.Version != current.Version {
			t.Errorf("%s with a stale version: %d %s", tc.action, status, b)
		}
	}
	e.unchanged(before, "stale versions")

	// Two agents claim one pool task at once with the same version: exactly
	// one gets it, the other a 409 — never both, never a lost update.
	for i := range 20 {
		pool := e.seed("permits", at(9, 0).Add(time.Duration(i)*time.Minute))
		var wg sync.WaitGroup
		statuses := map[string]int{}
		var mu sync.Mutex
		for _, who := range []string{"anna", "bram"} {
			wg.Go(func() {
				b, _ := json.Marshal(map[string]any{"version": pool.Version})
				req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/tasks/%d/claim", e.ts.URL, pool.ID), strings.NewReader(string(b)))
				e.authorize(req, who)
				resp, err := e.ts.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				statuses[who] = resp.StatusCode
				mu.Unlock()
			})
		}
		wg.Wait()
		got := e.get(pool.ID)
		winner := got.Assignee
		loser := map[string]string{"anna": "bram", "bram": "anna"}[winner]
		// The loser sees 409 (stale version) or 403 (it is the winner's
		// task now), depending on which check its request reached first.
		if got.Status != tasks.Claimed || got.Version != pool.Version+1 || statuses[winner] != http.StatusOK ||
			(statuses[loser] != http.StatusConflict && statuses[loser] != http.StatusForbidden) {
			t.Fatalf("race %d: statuses %v, task %+v", i, statuses, got)
		}
	}
}

// TestBadRequests: every bad request gets a clear 4xx with a JSON error and
// changes nothing.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	annas := e.create("anna", agreed("general", at(14, 0)))
	brams := e.create("bram", agreed("licences", at(14, 0)))
	licencesPool := e.seed("licences", at(14, 0))
	id := func(t tasks.Task, action string) string { return fmt.Sprintf("/api/tasks/%d/%s", t.ID, action) }
	v := annas.Version

	big := `{"version": 1, "reason": "` + strings.Repeat("x", 1<<20) + `"}`
	cases := []struct {
		name, method, path, who string
		body                    any
		status                  int
		says                    string
	}{
		{"no credentials", "GET", "/api/tasks", "", nil, 401, "authentication required"},
		{"another agent's task", "GET", fmt.Sprintf("/api/tasks/%d", brams.ID), "anna", nil, 403, "another agent"},
		{"claim another agent's task", "POST", id(brams, "claim"), "anna", map[string]any{"version": brams.Version}, 403, "another agent"},
		{"pool of a queue not hers", "POST", id(licencesPool, "claim"), "anna", map[string]any{"version": licencesPool.Version}, 403, `"licences"`},
		{"create in a queue not hers", "POST", "/api/tasks", "anna", agreed("licences", at(14, 0)), 403, `"licences"`},
		{"create in an unknown queue", "POST", "/api/tasks", "sam", agreed("nope", at(14, 0)), 400, `no queue`},
		{"list another agent's tasks", "GET", "/api/tasks?agent=bram", "anna", nil, 403, "only your own"},
		{"list a queue not hers", "GET", "/api/tasks?queue=licences", "anna", nil, 403, `"licences"`},
		{"list an unknown agent", "GET", "/api/tasks?agent=nobody", "sam", nil, 404, "no agent"},
		{"bad view", "GET", "/api/tasks?view=everything", "anna", nil, 400, "view"},
		{"bad status", "GET", "/api/tasks?status=open", "anna", nil, 400, "status"},
		{"unknown task", "GET", "/api/tasks/999999", "anna", nil, 404, "not found"},
		{"unknown task action", "POST", "/api/tasks/999999/claim", "anna", map[string]any{"version": 1}, 404, "not found"},
		{"bad task id", "GET", "/api/tasks/12abc", "anna", nil, 400, "positive integer"},
		{"unknown action", "POST", id(annas, "delete"), "anna", map[string]any{"version": v}, 404, "no action"},
		{"create outside opening hours", "POST", "/api/tasks", "anna", agreed("general", at(17, 0)), 422, "outside opening hours"},
		{"create on a Sunday", "POST", "/api/tasks", "anna", agreed("general", time.Date(2026, 11, 29, 10, 0, 0, 0, ams)), 422, "outside opening hours"},
		{"create on Christmas Day", "POST", "/api/tasks", "anna", agreed("general", time.Date(2026, 12, 25, 10, 0, 0, 0, ams)), 422, "outside opening hours"},
		{"create in the past", "POST", "/api/tasks", "anna", agreed("general", at(9, 0)), 422, "already ended"},
		{"reschedule outside opening hours", "POST", id(annas, "reschedule"), "anna",
			map[string]any{"version": v, "window_start": "2026-11-25T07:00", "window_end": "2026-11-25T07:15"}, 422, "outside opening hours"},
		{"window end before start", "POST", id(annas, "reschedule"), "anna",
			map[string]any{"version": v, "window_start": "2026-11-24T15:00", "window_end": "2026-11-24T14:00"}, 400, "not before"},
		{"window not a time", "POST", "/api/tasks", "anna",
			map[string]any{"queue": "general", "number": "0612345678", "window_start": "tomorrow", "window_end": "later"}, 400, "is not a time"},
		{"malformed JSON", "POST", "/api/tasks", "anna", `{"queue": "general",`, 400, "malformed"},
		{"malformed JSON action", "POST", id(annas, "complete"), "anna", `{"version": 1 "result": "reached"}`, 400, "malformed JSON"},
		{"unknown field", "POST", id(annas, "claim"), "anna", map[string]any{"version": v, "assignee": "anna"}, 400, `unknown field "assignee"`},
		{"field of another action", "POST", id(annas, "claim"), "anna", map[string]any{"version": v, "result": "reached"}, 400, `unknown field "result"`},
		{"wrong type", "POST", id(annas, "claim"), "anna", `{"version": "1"}`, 400, `"version"`},
		{"two objects", "POST", id(annas, "claim"), "anna", `{"version": 1} {"version": 2}`, 400, "malformed"},
		{"empty body", "POST", id(annas, "claim"), "anna", ``, 400, "empty"},
		{"array body", "POST", "/api/tasks", "anna", `[]`, 400, "malformed"},
		{"body over 1 MB", "POST", id(annas, "cancel"), "anna", big, 413, "larger than"},
		{"no version", "POST", id(annas, "claim"), "anna", map[string]any{}, 400, "version is required"},
		{"bad result", "POST", id(annas, "complete"), "anna", map[string]any{"version": v, "result": "maybe"}, 400, "result"},
		{"letters for a number", "POST", "/api/tasks", "anna", withField(agreed("general", at(14, 0)), "number", "call me maybe"), 400, "Dutch phone number"},
		{"foreign number", "POST", "/api/tasks", "anna", withField(agreed("general", at(14, 0)), "number", "+49 30 1234567"), 400, "Dutch phone number"},
		{"short number", "POST", "/api/tasks", "anna", withField(agreed("general", at(14, 0)), "number", "112"), 400, "Dutch phone number"},
		{"SQL as a number", "POST", "/api/tasks", "anna", withField(agreed("general", at(14, 0)), "number", "0612345678'; DROP TABLE tasks;--"), 400, "Dutch phone number"},
		{"NUL in notes", "POST", id(annas, "cancel"), "anna", map[string]any{"version": v, "reason": "a\x00b"}, 400, "not valid text"},
		{"no queue", "POST", "/api/tasks", "anna", withField(agreed("general", at(14, 0)), "queue", ""), 400, "queue is required"},
	}
	before := e.snapshot()
	for _, tc := range cases {
		status, b := e.request(tc.method, tc.path, tc.who, tc.body)
		var got struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &got); err != nil || got.Error == "" {
			t.Errorf("%s: body %q is not a JSON error", tc.name, b)
		}
		if status != tc.status || !strings.Contains(got.Error, tc.says) {
			t.Errorf("%s: %d %q, want %d and %q", tc.name, status, got.Error, tc.status, tc.says)
		}
	}
	e.unchanged(before, "bad requests")
}

func withField(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

// TestSQLMetacharacters: text with SQL in it is stored verbatim and does
// nothing else.
func TestSQLMetacharacters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.create("bram", agreed("licences", at(14, 0)))
	const evil = `Robert'); DROP TABLE tasks; -- ' OR '1'='1 "; UPDATE tasks SET status='done'; $$ \' \\ %_ ;`
	body := agreed("general", at(14, 0))
	body["notes"], body["caller_name"] = evil, evil
	before := e.snapshot()
	task := e.create("anna", body)
	if task.Notes != evil || task.CallerName != evil {
		t.Errorf("returned %q / %q", task.Notes, task.CallerName)
	}
	stored := e.get(task.ID)
	if stored.Notes != evil || stored.CallerName != evil {
		t.Errorf("stored %q / %q, want %q", stored.Notes, stored.CallerName, evil)
	}
	// Nothing else changed: the other task, and one more task with its history.
	after := e.snapshot()
	if len(after.Tasks) != len(before.Tasks)+1 || after.Events != before.Events+1 {
		t.Errorf("tasks %d → %d, history %d → %d", len(before.Tasks), len(after.Tasks), before.Events, after.Events)
	}
	if got := e.get(other.ID); got.Version != other.Version || got.Status != other.Status {
		t.Errorf("the other task changed: %+v", got)
	}

	// In a note of a result, and in the query string of a list.
	var done tasks.Task
	e.call("POST", fmt.Sprintf("/api/tasks/%d/complete", task.ID), "anna",
		map[string]any{"version": task.Version, "result": "reached", "notes": evil}, http.StatusOK, &done)
	if done.Notes != evil+"\n"+evil {
		t.Errorf("notes after complete: %q", done.Notes)
	}
	status, b := e.request("GET", "/api/tasks?queue=general'%20OR%201=1--", "sam", nil)
	if status != http.StatusOK || strings.Contains(string(b), `"id"`) {
		t.Errorf("queue filter with SQL: %d %s", status, b)
	}
	if got := e.get(other.ID); got.Version != other.Version {
		t.Errorf("the other task changed: %+v", got)
	}
}
