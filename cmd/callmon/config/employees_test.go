package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEmployeeDefaults(t *testing.T) {
	c, err := Parse("callmon.yml", []byte(head+tail+"employees:\n  - id: erik\n    numbers: [0503161234]\n    endpoint: PJSIP/2001\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Employee{
		ID: "erik", Name: "erik", Numbers: []string{"0503161234"}, Endpoint: "PJSIP/2001",
		Mailbox: "erik@callmon", DirectRingTimeout: 20 * time.Second,
	}
	if len(c.Employees) != 1 || !reflect.DeepEqual(c.Employees[0], want) {
		t.Errorf("employees = %+v\nwant        [%+v]", c.Employees, want)
	}
	if got := c.Employees[0].TaskAssignee(); got != "erik" {
		t.Errorf("TaskAssignee = %q, want the employee id", got)
	}
	wantVM := Voicemail{Mode: VoicemailARI, MaxDuration: 180 * time.Second, MaxSilence: 5 * time.Second, MinDuration: time.Second}
	if c.Voicemail != wantVM || DefaultVoicemail() != wantVM {
		t.Errorf("voicemail defaults = %+v, DefaultVoicemail() = %+v; want %+v", c.Voicemail, DefaultVoicemail(), wantVM)
	}
	if d := DefaultEmployee("x"); d.Mailbox != "x@callmon" || d.Name != "x" || d.DirectRingTimeout != DefaultDirectRingTimeout {
		t.Errorf("DefaultEmployee = %+v", d)
	}

	// Without employees: none, and voicemail still has its defaults.
	c, err = Parse("callmon.yml", []byte(head+tail))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Employees) != 0 || c.Voicemail != wantVM {
		t.Errorf("no employees: %+v, voicemail %+v", c.Employees, c.Voicemail)
	}
	if _, ok := c.EmployeeByNumber("0503161234"); ok {
		t.Errorf("EmployeeByNumber found an employee in a file without any")
	}
	if d := Demo(2); d.Voicemail != wantVM {
		t.Errorf("Demo voicemail = %+v", d.Voicemail)
	}
}

func TestEmployeeValues(t *testing.T) {
	src := head + tail + `employees:
  - id: anna
    name: " Anna de Vries "
    numbers: ["050-316 12 34", "+31 (0)50 316 12 35", 0031503161236]
    endpoint: PJSIP/anna-desk
    greeting: recording:greeting-anna
    agent: anna
    mailbox: 1234@default
    direct_ring_timeout: 1m
  - id: erik
    numbers: ["+31503161237"]
    endpoint: PJSIP/2001
    direct_ring_timeout: 1s
voicemail:
  mode: dialplan
  context: callmon-voicemail
  max_duration: 2m
  max_silence: 0s
  min_duration: 0s
`
	c, err := Parse("callmon.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	anna := Employee{
		ID: "anna", Name: "Anna de Vries", Numbers: []string{"0503161234", "0503161235", "0503161236"},
		Endpoint: "PJSIP/anna-desk", Greeting: "recording:greeting-anna", Agent: "anna", Mailbox: "1234@default",
		DirectRingTimeout: time.Minute,
	}
	if !reflect.DeepEqual(c.Employees[0], anna) {
		t.Errorf("anna = %+v\nwant   %+v", c.Employees[0], anna)
	}
	if e := c.Employees[1]; e.DirectRingTimeout != time.Second || e.Mailbox != "erik@callmon" || e.Greeting != "" || e.Agent != "" {
		t.Errorf("erik = %+v", e)
	}
	if got := c.Employees[0].TaskAssignee(); got != "anna" {
		t.Errorf("TaskAssignee = %q, want the agent id", got)
	}
	wantVM := Voicemail{Mode: VoicemailDialplan, Context: "callmon-voicemail", MaxDuration: 2 * time.Minute}
	if c.Voicemail != wantVM {
		t.Errorf("voicemail = %+v, want %+v", c.Voicemail, wantVM)
	}

	// Every notation of a number finds its employee.
	for number, id := range map[string]string{
		"0503161234":             "anna",
		"+31503161234":           "anna",
		"050-316 12 34":          "anna",
		"0031 50 316 12 35":      "anna",
		"+31 (0)50 3161236":      "anna",
		"(050) 316.12.37":        "erik",
		"+31 50 316 12 37\u00a0": "erik",
	} {
		if e, ok := c.EmployeeByNumber(number); !ok || e.ID != id {
			t.Errorf("EmployeeByNumber(%q) = %v, %v; want %s", number, e, ok, id)
		}
	}
	for _, number := range []string{"0503164911", "", "anonymous", "+44 20 7946 0000", "050316123"} {
		if e, ok := c.EmployeeByNumber(number); ok {
			t.Errorf("EmployeeByNumber(%q) = %+v", number, e)
		}
	}
	if e, ok := c.Employee("erik"); !ok || e.Endpoint != "PJSIP/2001" {
		t.Errorf("Employee(erik) = %v, %v", e, ok)
	}
	if _, ok := c.Employee("bram"); ok {
		t.Errorf("Employee(bram) found")
	}
	// The pointer is into the Config, as Queue's and Agent's are.
	if e, _ := c.EmployeeByNumber("0503161237"); e != &c.Employees[1] {
		t.Errorf("EmployeeByNumber returns a copy")
	}

	// A context may stay when the mode is ari (switching back is one line).
	c, err = Parse("callmon.yml", []byte(head+tail+"voicemail:\n  mode: ari\n  context: callmon-voicemail\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Voicemail.Mode != VoicemailARI || c.Voicemail.Context != "callmon-voicemail" {
		t.Errorf("voicemail = %+v", c.Voicemail)
	}
}

func TestEmployeesInExample(t *testing.T) {
	t.Setenv(PasswordEnv, "")
	c, err := Load("../../../callmon.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c.EmployeeByNumber("0503161234"); !ok || e.ID != "erik" || e.Greeting == "" || e.TaskAssignee() != "erik" {
		t.Errorf("erik = %+v, %v", e, ok)
	}
	if e, ok := c.EmployeeByNumber("050-316 12 35"); !ok || e.ID != "anna" || e.TaskAssignee() != "anna" {
		t.Errorf("anna = %+v, %v", e, ok)
	}
	if c.Voicemail.Mode != VoicemailARI || c.Voicemail.MaxDuration != 180*time.Second {
		t.Errorf("voicemail = %+v", c.Voicemail)
	}
	var sb strings.Builder
	if err := c.SummaryAt(&sb, time.Date(2026, 6, 20, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		`Employees (2; direct dial, measured as queue "direct")`,
		"  erik (Erik Mulder)\n",
		"numbers          0503161234\n",
		"rings            PJSIP/2001 for 20s, then voicemail\n",
		"greeting         recording:greeting-erik\n",
		"greeting         default, naming Anna de Vries\n",
		"mailbox          erik@callmon\n",
		"voicemail tasks  for erik\n",
		"voicemail tasks  for agent anna\n",
		"mode              ari: callmon records and sets the waiting indicators (res_mwi_external)\n",
		"recording         up to 3m, stops after 5s of silence or on #\n",
		"shortest message  1s (shorter ones are discarded)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Summary lacks %q:\n%s", want, out)
		}
	}

	c.Voicemail = Voicemail{Mode: VoicemailDialplan, Context: "callmon-voicemail"}
	sb.Reset()
	if err := c.SummaryAt(&sb, time.Date(2026, 6, 20, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	out = sb.String()
	for _, want := range []string{
		"greeting         app_voicemail's\n",
		"mode  dialplan: callers continue in context callmon-voicemail (VoiceMail() records; app_voicemail keeps the waiting indicators)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dialplan Summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shortest message") {
		t.Errorf("dialplan Summary shows callmon's recording limits:\n%s", out)
	}
}
