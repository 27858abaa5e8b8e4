package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"callmon/callback/calendar"
)

// head is a valid ari section: two lines, so a test file's line 3 is the
// first line after it.
const head = "ari: {url: http://127.0.0.1:8088/ari, user: callmon}\n"

// tail is a valid queue and agent, for tests about other sections.
const tail = `queues:
  - name: general
    agents: [anna]
agents:
  - id: anna
    endpoint: PJSIP/1001
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every line of the error, in order
	}{
		// YAML syntax.
		{"tab indentation", head + "queues:\n\t- name: general\n", []string{
			`callmon.yml:3: invalid YAML: found character that cannot start any token (hint: indent with spaces, not tabs)`,
		}},
		{"mapping value in a value", head + tail + "opening_hours:\n  open: 08:30: x\n", []string{
			`callmon.yml:9: invalid YAML: mapping values are not allowed in this context (hint: put each key on its own line, and quote a value that contains ": ")`,
		}},
		{"unclosed list", head + "queues: [a, b\nagents: []\n", []string{
			`callmon.yml:2: invalid YAML: did not find expected ',' or ']' (hint: check the indentation and quoting on this line and the one before it)`,
		}},
		{"key indented too far", head + "queues:\n  - name: general\n    agents: [anna]\n   numbers: []\n", []string{
			`callmon.yml:5: invalid YAML: did not find expected '-' indicator (hint: line this key up with the keys of the same section above it)`,
		}},
		{"key indented too little", head + "queues:\n- name: general\n  threshold: 30s\n numbers: []\n", []string{
			`callmon.yml:5: invalid YAML: did not find expected key (hint: line this key up with the keys of the same section above it)`,
		}},
		{"unterminated quote", head + "queues:\n  - name: general\n    welcome_prompt: \"sound:x\n", []string{
			`callmon.yml:4: invalid YAML: found unexpected end of stream (hint: a quote or bracket opened here is never closed)`,
		}},
		{"multi-line list before the error", head + "opening_hours:\n  days: [mon,\n    tue]\n  open: [\"08:30\"\nqueues: []\n", []string{
			`callmon.yml:5: invalid YAML: did not find expected ',' or ']' (hint: check the indentation and quoting on this line and the one before it)`,
		}},
		{"unknown anchor", head + "queues:\n  - name: general\n    agents: *team\n", []string{
			`callmon.yml:4: invalid YAML: unknown anchor 'team' referenced (hint: define the anchor with &name before using *name)`,
		}},
		{"empty file", "", []string{
			`callmon.yml:1: the file is empty (hint: start from callmon.example.yml)`,
		}},
		{"only comments", "# nothing yet\n", []string{
			`callmon.yml:1: the file is empty (hint: start from callmon.example.yml)`,
		}},
		{"two documents", head + tail + "---\nari: {}\n", []string{
			`callmon.yml:8: a second YAML document starts here; callmon reads one (hint: remove the --- line and everything after it)`,
		}},
		{"root is a list", "- ari\n- queues\n", []string{
			`callmon.yml:1: the file is a list, not a mapping of keys and values (hint: start from callmon.example.yml: the file is a mapping with ari:, opening_hours:, queues: and agents:)`,
		}},

		// Announcements and the earlier callback offer; the sounds check.
		{"announcements too often", head + "queues:\n  - name: general\n    announce_every: 10s\n    announce_error_limit: 0s\n    callback_offer_expected_wait: -1m\n", []string{
			`callmon.yml:4: announce_every: 10s is shorter than an announcement (20s) (hint: write 0s for no announcements, or 20s or more such as 60s)`,
			`callmon.yml:5: announce_error_limit: 0s is not positive (hint: write a positive duration such as 2m)`,
			`callmon.yml:6: callback_offer_expected_wait: -1m0s is negative (hint: write 0s to not offer on the prediction, or a duration such as 4m)`,
		}},
		{"sounds in another language", head + tail + "sounds:\n  language: fr\n", []string{
			`callmon.yml:9: language: "fr" is not a language callmon has prompts in (hint: write nl or en)`,
		}},

		// Top level.
		{"missing sections", "agents: []\n", []string{
			`callmon.yml:1: the file is missing "ari" (hint: add an ari: section with url: and user:)`,
			`callmon.yml:1: the file is missing "queues" (hint: add a queues: list with at least one queue)`,
		}},
		{"unknown top-level key", head + tail + "queue: []\n", []string{
			`callmon.yml:8: unknown key "queue" at the top level (hint: did you mean "queues"?)`,
		}},
		{"key in the wrong section", head + tail + "threshold: 30s\n", []string{
			`callmon.yml:8: unknown key "threshold" at the top level (hint: "threshold" belongs in queue)`,
		}},
		{"top-level key indented", "ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\n  queues: []\n" + tail, []string{
			`callmon.yml:4: unknown key "queues" in ari (hint: "queues" belongs at the top level, not indented)`,
		}},
		{"unrelated unknown key", head + tail + "colour: blue\n", []string{
			`callmon.yml:8: unknown key "colour" at the top level (hint: known keys: ari, database, opening_hours, queues, agents, supervisors, wallboards, employees, voicemail, retention, sounds, ui)`,
		}},
		{"duplicate key", head + tail + "agents: []\n", []string{
			`callmon.yml:8: duplicate key "agents" at the top level (hint: it is already set on line 5; keep one)`,
		}},
		{"section is not a mapping", "ari: http://127.0.0.1:8088/ari\n" + tail, []string{
			`callmon.yml:1: ari: expected a mapping of keys and values, found "http://127.0.0.1:8088/ari" (hint: write its keys on the lines below it, indented, as key: value)`,
		}},

		// ari.
		{"url without /ari", "ari:\n  url: http://pbx.example.nl:8088\n  user: callmon\n" + tail, []string{
			`callmon.yml:2: url: "http://pbx.example.nl:8088" does not end in /ari (hint: write http://pbx.example.nl:8088/ari)`,
		}},
		{"websocket url", "ari:\n  url: ws://127.0.0.1:8088/ari/events\n  user: callmon\n" + tail, []string{
			`callmon.yml:2: url: "ws://127.0.0.1:8088/ari/events" must be an http or https URL (hint: write http://127.0.0.1:8088/ari; callmon derives the events websocket from it)`,
		}},
		{"url with credentials", "ari:\n  url: http://callmon:secret@127.0.0.1:8088/ari\n  user: callmon\n" + tail, []string{
			`callmon.yml:2: url: "http://callmon:secret@127.0.0.1:8088/ari" must not contain credentials (hint: write http://127.0.0.1:8088/ari and put the password in CALLMON_ARI_PASSWORD)`,
		}},
		{"url is no URL", "ari:\n  url: localhost\n  user: callmon\n" + tail, []string{
			`callmon.yml:2: url: "localhost" is not a URL (hint: write http://127.0.0.1:8088/ari)`,
		}},
		{"missing user, typo", "ari:\n  url: http://127.0.0.1:8088/ari\n  usr: callmon\n" + tail, []string{
			`callmon.yml:2: ari is missing "user" (hint: add user: callmon)`,
			`callmon.yml:3: unknown key "usr" in ari (hint: did you mean "user"?)`,
		}},
		{"password in the file", "ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\n  password: hunter2\n" + tail, []string{
			`callmon.yml:4: unknown key "password" in ari (hint: never put the password in this file: set the environment variable CALLMON_ARI_PASSWORD or password_file)`,
		}},
		{"bad application", "ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\n  application: call mon\n" + tail, []string{
			`callmon.yml:4: application: "call mon" is not a valid ARI application name (hint: use letters, digits, _ . and -, as in Stasis(callmon,...))`,
		}},
		{"empty value", "ari:\n  url: http://127.0.0.1:8088/ari\n  user:\n" + tail, []string{
			`callmon.yml:3: user: has no value (hint: write a value after the colon, or remove the line)`,
		}},

		// opening_hours.
		{"bad timezone", head + tail + "opening_hours:\n  timezone: Amsterdam\n", []string{
			`callmon.yml:9: timezone: "Amsterdam" is not a time zone (hint: write an IANA time zone such as Europe/Amsterdam)`,
		}},
		{"day names", head + tail + "opening_hours:\n  days: [monday, di, wed, wed, Thu, feb]\n", []string{
			`callmon.yml:9: days: "monday" is not a day (hint: write mon)`,
			`callmon.yml:9: days: "di" is not a day (hint: write tue)`,
			`callmon.yml:9: days: wed is listed twice (hint: it is already listed on line 9)`,
			`callmon.yml:9: days: "Thu" is not a day (hint: write thu)`,
			`callmon.yml:9: days: "feb" is not a day (hint: write mon, tue, wed, thu, fri, sat or sun)`,
		}},
		{"no days", head + tail + "opening_hours:\n  days: []\n", []string{
			`callmon.yml:9: days: no working days (hint: write [mon, tue, wed, thu, fri])`,
		}},
		{"clock without leading zero", head + tail + "opening_hours:\n  open: 8:30\n", []string{
			`callmon.yml:9: open: "8:30" is not a time of day (hint: write "08:30")`,
		}},
		{"clock out of range", head + tail + "opening_hours:\n  close: \"25:00\"\n", []string{
			`callmon.yml:9: close: "25:00" is not a time of day (hint: write a 24-hour time as HH:MM in quotes, e.g. "08:30")`,
		}},
		{"open at midnight", head + tail + "opening_hours:\n  open: \"24:00\"\n  timezone: Local\n", []string{
			`callmon.yml:9: open: 24:00 is not an opening time (hint: the centre opens at 23:59 at the latest)`,
			`callmon.yml:10: timezone: "Local" is not a time zone (hint: write an IANA time zone such as Europe/Amsterdam)`,
		}},
		{"close before open", head + tail + "opening_hours:\n  open: \"17:00\"\n  close: \"08:30\"\n", []string{
			`callmon.yml:10: close: 08:30 is not after open 17:00 (hint: opening hours are within one day, e.g. open: "08:30" and close: "17:00")`,
		}},
		{"open after default close", head + tail + "opening_hours:\n  open: \"18:00\"\n", []string{
			`callmon.yml:9: close: 17:00 is not after open 18:00 (hint: opening hours are within one day, e.g. open: "08:30" and close: "17:00")`,
		}},
		{"yes is not a boolean", head + tail + "opening_hours:\n  closed_on_good_friday: yes\n  closed_on_liberation_day: 1\n", []string{
			`callmon.yml:9: closed_on_good_friday: "yes" is not true or false (hint: write true or false)`,
			`callmon.yml:10: closed_on_liberation_day: "1" is not true or false (hint: write true or false)`,
		}},
		{"extra closed dates", head + tail + "opening_hours:\n  extra_closed:\n    - 24-12-2026\n    - 2026-02-30\n    - 2026-12-31\n    - \"2026-12-31\"\n", []string{
			`callmon.yml:10: extra_closed: "24-12-2026" is not a date (hint: write 2026-12-24)`,
			`callmon.yml:11: extra_closed: "2026-02-30" is not a date (hint: write the date as YYYY-MM-DD, e.g. 2026-12-24)`,
			`callmon.yml:13: extra_closed: 2026-12-31 is listed twice (hint: it is already listed on line 12)`,
		}},
		{"unknown opening_hours key", head + tail + "opening_hours:\n  closed_on_goodfriday: true\n", []string{
			`callmon.yml:9: unknown key "closed_on_goodfriday" in opening_hours (hint: did you mean "closed_on_good_friday"?)`,
		}},

		// queues.
		{"misspelt key and bad duration", head + `queues:
  - name: general
    treshold: 30s
    threshold: 30 seconds
    ring_timeout: 20
`, []string{
			`callmon.yml:4: unknown key "treshold" in queue (hint: did you mean "threshold"?)`,
			`callmon.yml:5: threshold: "30 seconds" is not a duration (hint: write 30s)`,
			`callmon.yml:6: ring_timeout: "20" is not a duration (hint: write 20s)`,
		}},
		{"durations out of range", head + `queues:
  - name: a
    threshold: 0s
  - name: b
    short_abandon: -1s
  - name: c
    ring_timeout: 500ms
  - name: d
    threshold: 1m
    short_abandon: 2m
  - name: e
    threshold: 4s
`, []string{
			`callmon.yml:4: threshold: 0s is not positive (hint: write a positive duration such as 30s)`,
			`callmon.yml:6: short_abandon: -1s is negative (hint: write 0s to count every abandon, or a positive duration such as 5s)`,
			`callmon.yml:8: ring_timeout: 500ms is shorter than a second (hint: write at least 1s; 15s is usual)`,
			`callmon.yml:11: short_abandon: short_abandon 2m0s is not shorter than threshold 1m0s (hint: short abandons are a few seconds, well inside the threshold)`,
			`callmon.yml:13: threshold: short_abandon 5s is not shorter than threshold 4s (hint: short abandons are a few seconds, well inside the threshold)`,
		}},
		{"targets", head + `queues:
  - {name: a, target: 90}
  - {name: b, target: 90%}
  - {name: c, target: 0}
  - {name: d, target: high}
`, []string{
			`callmon.yml:3: target: 90 is not between 0 and 1 (hint: write 0.9 for 90 %)`,
			`callmon.yml:4: target: "90%" is a percentage; write a fraction (hint: write 0.9)`,
			`callmon.yml:5: target: 0 is not between 0 and 1 (hint: write a fraction such as 0.90 for 90 %)`,
			`callmon.yml:6: target: "high" is not a number (hint: write a fraction such as 0.90 for 90 %)`,
		}},
		{"strategy", head + "queues:\n  - name: a\n    strategy: ringall\n  - name: b\n    strategy: random\n", []string{
			`callmon.yml:4: strategy: "ringall" is not a strategy (hint: did you mean "ring-all"?)`,
			`callmon.yml:6: strategy: "random" is not a strategy (hint: write longest-idle or ring-all)`,
		}},
		{"queue names", head + `queues:
  - name: General Info
  - name: direct
  - name: general
  - name: general
  - numbers: []
`, []string{
			`callmon.yml:3: name: "General Info" is not a valid queue name (hint: write general_info)`,
			`callmon.yml:4: name: "direct" is reserved: direct-dial calls are measured as queue "direct" (hint: choose another name)`,
			`callmon.yml:6: name: queue "general" is defined twice (hint: the first is on line 5; queue names must be unique)`,
			`callmon.yml:7: queue is missing "name" (hint: add name: general)`,
		}},
		{"no queues", head + "queues: []\n", []string{
			`callmon.yml:2: queues: no queues are defined (hint: add a queue, e.g. - name: general)`,
		}},
		{"queue is not a mapping", head + "queues:\n  - general\n", []string{
			`callmon.yml:3: queue: expected a mapping of keys and values, found "general" (hint: write its keys on the lines below it, indented, as key: value)`,
		}},
		{"numbers", head + `queues:
  - name: general
    numbers:
      - 050-316 49 11
      - "12345"
      - +44 20 7946 0000
  - name: permits
    numbers: ["+31503164911", 0503164922, 0503164922]
  - name: single
    numbers: 0503164933
`, []string{
			`callmon.yml:6: numbers: "12345" is not a Dutch phone number (hint: write a Dutch number of 10 digits starting with 0, e.g. 0503164911)`,
			`callmon.yml:7: numbers: "+44 20 7946 0000" is not a Dutch phone number (hint: write a Dutch number of 10 digits starting with 0, e.g. 0503164911)`,
			`callmon.yml:9: numbers: 0503164911 is already a number of queue "general" (hint: it is already listed on line 5; a number routes to one queue)`,
			`callmon.yml:9: numbers: 0503164922 is already a number of queue "permits" (hint: it is already listed on line 9; a number routes to one queue)`,
			`callmon.yml:11: numbers: expected a list, found "0503164933" (hint: write [0503164933])`,
		}},
		{"prompts and music", head + `queues:
  - name: general
    welcome_prompt: custom/welcome
    closed_prompt: ""
    moh_class: my class
`, []string{
			`callmon.yml:4: welcome_prompt: "custom/welcome" is not an ARI media URI (hint: write sound:custom/welcome)`,
			`callmon.yml:5: closed_prompt: is empty; closed callers must hear why (hint: remove the line for the default sound:custom/closed)`,
			`callmon.yml:6: moh_class: "my class" is not a music-on-hold class name (hint: write the name of a class in Asterisk's musiconhold.conf, e.g. default)`,
		}},
		{"queue agents", head + `queues:
  - name: general
    agents: [ana, bram, bram, zoe]
agents:
  - id: anna
    endpoint: PJSIP/1001
  - id: bram
    endpoint: PJSIP/1002
`, []string{
			`callmon.yml:4: agents: agent "ana" is not defined (hint: did you mean "anna"?)`,
			`callmon.yml:4: agents: "bram" is listed twice in queue "general" (hint: it is already listed on line 4)`,
			`callmon.yml:4: agents: agent "zoe" is not defined (hint: define it under agents: with id: zoe)`,
		}},

		// agents.
		{"agents", head + `queues:
  - name: general
    agents: [Anna]
agents:
  - id: Anna
    endpoint: 1001
  - id: bram
    endpoint: SIP/1002
  - id: chris
    endpoint: PJSIP/1003
  - id: chris
    endpoint: PJSIP/1003
  - name: Dirk
`, []string{
			`callmon.yml:6: id: "Anna" is not a valid agent id (hint: write anna)`,
			`callmon.yml:7: endpoint: "1001" is not an Asterisk endpoint (hint: write PJSIP/1001)`,
			`callmon.yml:9: endpoint: "SIP/1002" uses chan_sip, which Asterisk 21 removed (hint: write PJSIP/1002)`,
			`callmon.yml:12: id: agent "chris" is defined twice (hint: the first is on line 10; agent ids must be unique)`,
			`callmon.yml:13: endpoint: PJSIP/1003 is used by two agents (hint: it is already the endpoint on line 11; each agent needs their own phone)`,
			`callmon.yml:14: agent is missing "id" (hint: add id: anna)`,
			`callmon.yml:14: agent is missing "endpoint" (hint: add endpoint: PJSIP/1001)`,
		}},
		{"agents is not a list", head + "queues:\n  - name: general\n    agents: [anna]\nagents: anna\n", []string{
			`callmon.yml:5: agents: expected a list, found "anna" (hint: write [anna])`,
		}},

		// employees.
		{"employees", head + tail + `employees:
  - id: Erik
    numbers: ["050-316 12 34", "12345"]
    endpoint: 2001
    greeting: greeting-erik
    direct_ring_timeout: 500ms
  - id: fleur
    numbers: []
    endpoint: PJSIP/2002
    agent: ana
    mailbox: "fleur mailbox"
  - id: fleur
    numbers: [0503161236]
    endpoint: PJSIP/2003
    agent: anna
  - id: gijs
    numbers: [0503161237]
    endpoint: PJSIP/2004
    agent: anna
  - id: ivo
    numbers: [0503161238]
    endpoint: PJSIP/2005
    mailbox: gijs@callmon
    direct_ring_timeout: 20
  - name: Henk
    numbers:
`, []string{
			`callmon.yml:9: id: "Erik" is not a valid employee id (hint: write erik)`,
			`callmon.yml:10: numbers: "12345" is not a Dutch phone number (hint: write a Dutch number of 10 digits starting with 0, e.g. 0503161234)`,
			`callmon.yml:11: endpoint: "2001" is not an Asterisk endpoint (hint: write PJSIP/2001)`,
			`callmon.yml:12: greeting: "greeting-erik" is not an ARI media URI (hint: write recording:greeting-erik)`,
			`callmon.yml:13: direct_ring_timeout: 500ms is shorter than a second (hint: write at least 1s; 20s is usual)`,
			`callmon.yml:15: numbers: the employee has no direct number (hint: write the employee's direct number, e.g. [050-316 12 34])`,
			`callmon.yml:17: agent: agent "ana" is not defined (hint: did you mean "anna"?)`,
			`callmon.yml:18: mailbox: "fleur mailbox" is not a mailbox name (hint: write a mailbox name such as anna@callmon (letters, digits, _ . + -, optionally @context))`,
			`callmon.yml:19: id: employee "fleur" is defined twice (hint: the first is on line 14; employee ids must be unique)`,
			`callmon.yml:26: agent: agent "anna" is already employee "fleur" (hint: one person is one employee, with several numbers if need be (line 22))`,
			`callmon.yml:30: mailbox: gijs@callmon is used by two employees (hint: it is already the mailbox on line 23; each employee needs their own)`,
			`callmon.yml:31: direct_ring_timeout: "20" is not a duration (hint: write 20s)`,
			`callmon.yml:32: employee is missing "id" (hint: add id: anna)`,
			`callmon.yml:32: employee is missing "endpoint" (hint: add endpoint: PJSIP/2001)`,
			`callmon.yml:33: numbers: the employee has no direct number (hint: write the employee's direct number, e.g. [050-316 12 34])`,
		}},
		{"employee without numbers", head + tail + "employees:\n  - id: erik\n    endpoint: PJSIP/2001\n", []string{
			`callmon.yml:9: employee is missing "numbers" (hint: add numbers: [050-316 12 34], the employee's direct number)`,
		}},
		{"numbers shared by queues and employees", head + `queues:
  - name: general
    numbers: [0503164911]
employees:
  - id: anna
    numbers: ["+31 50 316 49 11", 0503161234, "050-316 12 34"]
    endpoint: PJSIP/1001
  - id: bram
    numbers: [0031503161234]
    endpoint: PJSIP/1002
`, []string{
			`callmon.yml:7: numbers: 0503164911 is already a number of queue "general" (hint: it is already listed on line 4; a number routes to one queue or one employee)`,
			`callmon.yml:7: numbers: 0503161234 is already a number of employee "anna" (hint: it is already listed on line 7; a number routes to one queue or one employee)`,
			`callmon.yml:10: numbers: 0503161234 is already a number of employee "anna" (hint: it is already listed on line 7; a number routes to one queue or one employee)`,
		}},
		{"employee number before a queue's", head + `employees:
  - id: anna
    numbers: [050-316 49 11]
    endpoint: PJSIP/1001
queues:
  - name: general
    numbers: ["+31503164911"]
`, []string{
			`callmon.yml:8: numbers: 0503164911 is already a number of employee "anna" (hint: it is already listed on line 4; a number routes to one queue or one employee)`,
		}},
		{"employee agent when agents is broken", head + "queues:\n  - name: general\nagents: anna\nemployees:\n  - {id: anna, numbers: [0503161234], endpoint: PJSIP/1001, agent: anna}\n", []string{
			`callmon.yml:4: agents: expected a list, found "anna" (hint: write [anna])`,
		}},
		{"employees is not a list", head + tail + "employees: anna\n", []string{
			`callmon.yml:8: employees: expected a list, found "anna" (hint: write [anna])`,
		}},

		// voicemail.
		{"voicemail values", head + tail + `voicemail:
  mode: dial-plan
  context: "my context"
  max_duration: 90.5s
  max_silence: -1s
  min_duration: -1s
  greeting: sound:vm-intro
`, []string{
			`callmon.yml:9: mode: "dial-plan" is not a voicemail mode (hint: did you mean "dialplan"?)`,
			`callmon.yml:10: context: "my context" is not a dialplan context name (hint: write the name of a context in extensions.conf, e.g. callmon-voicemail)`,
			`callmon.yml:11: max_duration: 1m30.5s is not a whole number of seconds (hint: write 1m30s or 1m31s; Asterisk takes it in whole seconds)`,
			`callmon.yml:12: max_silence: -1s is negative (hint: write 5s, or 0s never to stop for silence)`,
			`callmon.yml:13: min_duration: -1s is negative (hint: write 0s to keep every message, or a short duration such as 1s)`,
			`callmon.yml:14: unknown key "greeting" in voicemail (hint: "greeting" belongs in employee)`,
		}},
		{"dialplan mode without context", head + tail + "voicemail:\n  max_silence: 2.5s\n  mode: dialplan\n", []string{
			`callmon.yml:9: max_silence: 2.5s is not a whole number of seconds (hint: write 2s or 3s; Asterisk takes it in whole seconds)`,
			`callmon.yml:10: voicemail is missing "context", which mode dialplan needs (hint: add context: callmon-voicemail, the dialplan context that runs VoiceMail())`,
		}},
		{"min_duration not below max_duration", head + tail + "voicemail:\n  max_duration: 2s\n  min_duration: 2s\n", []string{
			`callmon.yml:10: min_duration: min_duration 2s is not shorter than max_duration 2s (hint: messages shorter than min_duration are discarded; keep it a second or two)`,
		}},
		{"max_duration not above default min_duration", head + tail + "voicemail:\n  max_duration: 1s\n", []string{
			`callmon.yml:9: max_duration: min_duration 1s is not shorter than max_duration 1s (hint: messages shorter than min_duration are discarded; keep it a second or two)`,
		}},
		{"max_duration too short", head + tail + "voicemail:\n  max_duration: 0s\n  min_duration: 0s\n", []string{
			`callmon.yml:9: max_duration: 0s is shorter than 1s (hint: write at least 1s; 180s is usual)`,
		}},
		{"voicemail is not a mapping", head + tail + "voicemail: ari\n", []string{
			`callmon.yml:8: voicemail: expected a mapping of keys and values, found "ari" (hint: write its keys on the lines below it, indented, as key: value)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("callmon.yml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			got := strings.Split(err.Error(), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "callmon.yml" || e.Line < 1 {
				t.Errorf("errors.As(*Error) = %+v", e)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("callmon.yml", []byte(head+tail))
	if err != nil {
		t.Fatal(err)
	}
	if c.ARI.Application != "callmon" || c.ARI.PasswordFile != "" || c.ARI.URL != "http://127.0.0.1:8088/ari" {
		t.Errorf("ARI = %+v", c.ARI)
	}
	want := DefaultQueue("general")
	want.Agents = []string{"anna"}
	if got := c.Queues[0]; !equalQueue(got, want) {
		t.Errorf("queue = %+v\nwant   %+v", got, want)
	}
	q := c.Queues[0]
	if q.Threshold != 30*time.Second || q.Target != 0.90 || q.ShortAbandon != 5*time.Second ||
		q.Strategy != LongestIdle || q.RingTimeout != 15*time.Second || q.MOHClass != "default" ||
		q.WelcomePrompt != "" || q.ClosedPrompt != "sound:custom/closed" {
		t.Errorf("queue defaults = %+v", q)
	}
	if a := c.Agents[0]; a.Name != "anna" {
		t.Errorf("agent name defaults to %q, want the id", a.Name)
	}
	oh := c.OpeningHours
	if oh.Location.String() != "Europe/Amsterdam" || oh.Hours.Open != calendar.ClockOf(8, 30) || oh.Hours.Close != calendar.ClockOf(17, 0) ||
		!slices.Equal(oh.Hours.Weekdays, calendar.DefaultHours().Weekdays) || oh.ClosedOnGoodFriday || oh.ClosedOnLiberationDay || len(oh.ExtraClosed) != 0 {
		t.Errorf("opening hours defaults = %+v", oh)
	}
	cal, err := c.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	ams := cal.Location()
	if !cal.IsOpen(time.Date(2026, 6, 5, 16, 59, 59, 0, ams)) || cal.IsOpen(time.Date(2026, 6, 5, 17, 0, 0, 0, ams)) {
		t.Errorf("default calendar hours wrong")
	}
}

func equalQueue(a, b Queue) bool {
	return a.Name == b.Name && slices.Equal(a.Numbers, b.Numbers) && a.Threshold == b.Threshold &&
		a.Target == b.Target && a.ShortAbandon == b.ShortAbandon && a.Strategy == b.Strategy &&
		a.RingTimeout == b.RingTimeout && a.MOHClass == b.MOHClass && a.WelcomePrompt == b.WelcomePrompt &&
		a.ClosedPrompt == b.ClosedPrompt && slices.Equal(a.Agents, b.Agents)
}

func TestParseValues(t *testing.T) {
	src := `ari:
  url: https://pbx.example.nl/asterisk/ari/
  user: callmon
  application: callmon-test
  password_file: secrets/ari
opening_hours:
  timezone: UTC
  days: [mon, wed, sat]
  open: 09:00
  close: "24:00"
  closed_on_good_friday: true
  closed_on_liberation_day: True
  extra_closed: [2026-12-24, "2026-12-31"]
queues:
  - name: general
    numbers: ["050-316 49 11", "+31 (0)50 316 49 12", 0031503164913]
    threshold: 1m30s
    target: 1
    short_abandon: 0s
    strategy: ring-all
    ring_timeout: 1s
    moh_class: quiet.v2
    welcome_prompt: "sound:custom/welcome"
    closed_prompt: recording:closed-2026
    agents: &team [anna]
  - name: permits
    agents: *team
agents:
  - id: anna
    name: "  Anna de Vries "
    endpoint: PJSIP/anna-desk
`
	c, err := Parse("/etc/callmon/callmon.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.ARI.URL != "https://pbx.example.nl/asterisk/ari" || c.ARI.Application != "callmon-test" || c.ARI.PasswordFile != "/etc/callmon/secrets/ari" {
		t.Errorf("ARI = %+v", c.ARI)
	}
	oh := c.OpeningHours
	if oh.Location != time.UTC || !slices.Equal(oh.Hours.Weekdays, []time.Weekday{time.Monday, time.Wednesday, time.Saturday}) ||
		oh.Hours.Open != calendar.ClockOf(9, 0) || oh.Hours.Close != calendar.ClockOf(24, 0) ||
		!oh.ClosedOnGoodFriday || !oh.ClosedOnLiberationDay ||
		!slices.Equal(oh.ExtraClosed, []calendar.Date{{Year: 2026, Month: 12, Day: 24}, {Year: 2026, Month: 12, Day: 31}}) {
		t.Errorf("opening hours = %+v", oh)
	}
	want := Queue{
		Name:          "general",
		Numbers:       []string{"0503164911", "0503164912", "0503164913"},
		Threshold:     90 * time.Second,
		Target:        1,
		ShortAbandon:  0,
		Strategy:      RingAll,
		RingTimeout:   time.Second,
		MOHClass:      "quiet.v2",
		WelcomePrompt: "sound:custom/welcome",
		ClosedPrompt:  "recording:closed-2026",
		Agents:        []string{"anna"},
	}
	if !equalQueue(c.Queues[0], want) {
		t.Errorf("queue = %+v\nwant   %+v", c.Queues[0], want)
	}
	if !slices.Equal(c.Queues[1].Agents, []string{"anna"}) {
		t.Errorf("alias not resolved: %+v", c.Queues[1])
	}
	if a := c.Agents[0]; a.Name != "Anna de Vries" || a.Endpoint != "PJSIP/anna-desk" {
		t.Errorf("agent = %+v", a)
	}
	if q, ok := c.QueueByNumber("+31 50 316 49 12"); !ok || q.Name != "general" {
		t.Errorf("QueueByNumber = %v, %v", q, ok)
	}
	if _, ok := c.QueueByNumber("0201234567"); ok {
		t.Errorf("QueueByNumber found an unconfigured number")
	}
	if q, ok := c.Queue("permits"); !ok || q.Name != "permits" {
		t.Errorf("Queue(permits) = %v, %v", q, ok)
	}
	if _, ok := c.Agent("bram"); ok {
		t.Errorf("Agent(bram) found")
	}
}

func TestNormalizeNumber(t *testing.T) {
	good := map[string]string{
		"0503164911":         "0503164911",
		"050-316 49 11":      "0503164911",
		"050 - 316 49 11":    "0503164911",
		"+31503164911":       "0503164911",
		"+31 50 316 49 11":   "0503164911",
		"+31 (0)50 316 4911": "0503164911",
		"0031 50 3164911":    "0503164911",
		"(050) 316.49.11":    "0503164911",
		"06-12345678":        "0612345678",
		" 0612345678\u00a0":  "0612345678",
	}
	for in, want := range good {
		if got, err := NormalizeNumber(in); err != nil || got != want {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "12345", "0800 123 4567", "+44 20 7946 0000", "0031 0503164911", "050316491x", "0003164911", "+3150316491"} {
		if got, err := NormalizeNumber(in); err == nil {
			t.Errorf("NormalizeNumber(%q) = %q, want an error", in, got)
		}
	}
}

func TestARIPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ari-password")
	if err := os.WriteFile(file, []byte("  s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(t *testing.T, passwordFile string) *Config {
		t.Helper()
		src := "ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\n"
		if passwordFile != "" {
			src += "  password_file: " + passwordFile + "\n"
		}
		c, err := Parse(filepath.Join(dir, "callmon.yml"), []byte(src+tail))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	tests := []struct {
		name, env, file string
		want            string
		wantErr         string
		wantSource      string
	}{
		{"from env", "s3cret-from-env", "", "s3cret-from-env", "", "set, from environment variable CALLMON_ARI_PASSWORD"},
		{"env wins over file", "s3cret-from-env", file, "s3cret-from-env", "", "set, from environment variable CALLMON_ARI_PASSWORD"},
		{"from file, trimmed", "", file, "s3cret-from-file", "", "set, from file " + file},
		{"relative file", "", "ari-password", "s3cret-from-file", "", "set, from file " + file},
		{"neither", "", "", "", "no ARI password: set the environment variable CALLMON_ARI_PASSWORD or ari.password_file", "NOT SET: no ARI password"},
		{"missing file", "", filepath.Join(dir, "nope"), "", "no such file", "NOT SET: ARI password: open"},
		{"empty file", "", empty, "", "is empty", "NOT SET: ARI password: " + empty + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(PasswordEnv, tt.env)
			c := parse(t, tt.file)
			got, err := c.ARIPassword()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ARIPassword = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("ARIPassword = %q, %v; want %q", got, err, tt.want)
			}
			var sb strings.Builder
			if err := c.SummaryAt(&sb, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sb.String(), "password     "+tt.wantSource) {
				t.Errorf("Summary does not say %q:\n%s", tt.wantSource, sb.String())
			}
			if strings.Contains(sb.String(), "s3cret") {
				t.Errorf("Summary prints the password:\n%s", sb.String())
			}
		})
	}
}

func TestExampleFile(t *testing.T) {
	const path = "../../../callmon.example.yml"
	c, err := Load(path)
	if err != nil {
		t.Fatalf("the example configuration does not load:\n%v", err)
	}
	if len(c.Queues) == 0 || len(c.Agents) == 0 {
		t.Fatalf("example has no queues or agents: %+v", c)
	}
	if q, ok := c.QueueByNumber("0503164911"); !ok || q.Name != "general" {
		t.Errorf("the general number does not route to queue general")
	}
	if _, err := c.Calendar(); err != nil {
		t.Errorf("Calendar: %v", err)
	}

	// The example documents every key the parser knows, and the list of
	// sections used for "belongs in" hints matches what the parser accepts.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	used := map[string]map[string]bool{}
	note := func(section string, m *yaml.Node) {
		if used[section] == nil {
			used[section] = map[string]bool{}
		}
		for i := 0; i < len(m.Content); i += 2 {
			used[section][m.Content[i].Value] = true
		}
	}
	root := doc.Content[0]
	note("", root)
	for i := 0; i < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, root.Content[i+1]
		switch k {
		case "ari", "database", "opening_hours", "voicemail", "retention", "sounds", "ui":
			note(k, v)
		case "queues", "agents", "supervisors", "wallboards", "employees":
			for _, item := range v.Content {
				note(strings.TrimSuffix(k, "s"), item)
			}
		}
	}
	for _, sec := range sections {
		for _, key := range sec.keys {
			if !used[sec.name][key] {
				t.Errorf("the example does not show key %q of section %q", key, sec.name)
			}
		}
		if len(used[sec.name]) != len(sec.keys) {
			t.Errorf("section %q: the example uses %d keys, sections lists %d", sec.name, len(used[sec.name]), len(sec.keys))
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "callmon.yml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestDemo(t *testing.T) {
	c := Demo(12)
	if len(c.Agents) != 12 || c.Agents[0].ID != "agent01" || c.Agents[0].Endpoint != "PJSIP/1001" ||
		c.Agents[11].ID != "agent12" || c.Agents[11].Endpoint != "PJSIP/1012" {
		t.Errorf("agents = %+v", c.Agents)
	}
	q, ok := c.QueueByNumber("050-316 49 11")
	if !ok || q.Name != "general" || len(q.Agents) != 12 {
		t.Fatalf("queue = %+v, %v", q, ok)
	}
	for _, id := range q.Agents {
		if _, ok := c.Agent(id); !ok {
			t.Errorf("queue names agent %q, who is not defined", id)
		}
	}
	if pw, err := c.ARIPassword(); err != nil || pw == "" {
		t.Errorf("ARIPassword = %q, %v", pw, err)
	}
	cal, err := c.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	// The demo shows traffic whenever it runs, Christmas night included.
	for _, tm := range []time.Time{
		time.Date(2026, 12, 25, 3, 0, 0, 0, cal.Location()),
		time.Date(2026, 6, 6, 23, 59, 59, 0, cal.Location()),
	} {
		if !cal.IsOpen(tm) {
			t.Errorf("demo closed at %v", tm)
		}
	}
	if got := Demo(0); len(got.Agents) != 0 || len(got.Queues) != 1 {
		t.Errorf("Demo(0) = %+v", got)
	}
}

func TestSummary(t *testing.T) {
	t.Setenv(PasswordEnv, "")
	c, err := Load("../../../callmon.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	// Saturday 20 June 2026, noon in Amsterdam.
	if err := c.SummaryAt(&sb, time.Date(2026, 6, 20, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"url          http://127.0.0.1:8088/ari",
		"password     NOT SET: ARI password: open /etc/callmon/ari-password",
		"days                     mon, tue, wed, thu, fri",
		"hours                    08:30–17:00",
		"Good Friday              open",
		"closed until 2027-06-20  9 day(s)",
		"Thu 2026-12-24         extra closed day",
		"Sat 2026-12-26         Tweede Kerstdag (not a working day anyway)",
		"Tue 2027-04-27         Koningsdag",
		"now                      closed; opens Mon 2026-06-22 08:30 CEST",
		"numbers         0503164911",
		"service level   90 % answered within 30s (short abandons under 5s not counted)",
		"service level   80 % answered within 1m (short abandons under 5s not counted)",
		"ringing         ring-all, 15s per attempt",
		"agents          anna (Anna de Vries), bram (Bram Jansen), chris (Chris Bakker)",
		"chris  Chris Bakker   PJSIP/1003  queues general, permits",
		"announcements   place in line and expected wait at entry and every 1m (the wait only while the prediction's recent error is within 2m)",
		"callback offer  with no agent logged in or when closed, after 1m of waiting, at once when the expected wait exceeds 4m",
		"prompts  in language nl, checked at start in /usr/share/asterisk/sounds/nl/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Summary lacks %q:\n%s", want, out)
		}
	}
}

func TestSuggest(t *testing.T) {
	for in, want := range map[string]string{
		"treshold":     "threshold",
		"ring-timeout": "ring_timeout",
		"RingTimeout":  "ring_timeout",
		"Threshold":    "threshold",
		"agent":        "agents",
		"x":            "",
	} {
		if got := suggest(in, sections[4].keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTokensAndAutoDial(t *testing.T) {
	c, err := Load("../../../callmon.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Supervisors) != 1 || c.Supervisors[0].ID != "sanne" || !strings.HasPrefix(c.Supervisors[0].TokenHash, "$2a$10$") {
		t.Errorf("supervisors = %+v", c.Supervisors)
	}
	if c.Agents[0].TokenHash == "" || c.ARI.OutboundEndpoint != "PJSIP/{number}@pstn" {
		t.Errorf("agent token hash %q, outbound endpoint %q", c.Agents[0].TokenHash, c.ARI.OutboundEndpoint)
	}
	_, err = Parse("callmon.yml", []byte("ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\n  outbound_endpoint: PJSIP/pstn\nqueues:\n  - name: general\n    agents: [anna]\nagents:\n  - id: anna\n    endpoint: PJSIP/1001\n    token_hash: secret123\n"))
	for _, want := range []string{"callmon.yml:4: outbound_endpoint", "callmon.yml:11: token_hash: not a bcrypt hash", "callmon token --id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if len(c.Wallboards) != 1 || c.Wallboards[0].ID != "hal-1" || len(c.Credentials()) != 4 {
		t.Errorf("wallboards = %+v, credentials %d, want hal-1 and 4 (anna, erik, sanne, hal-1)", c.Wallboards, len(c.Credentials()))
	}
}

// TestTokenHashForms: the unsalted SHA-256 of earlier versions is refused
// with the way out; so is a cheap bcrypt cost, and an employee who is an
// agent with a token of their own.
func TestTokenHashForms(t *testing.T) {
	const head = "ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\nqueues:\n  - name: general\n    agents: [anna]\nagents:\n  - id: anna\n    endpoint: PJSIP/1001\n"
	for hash, want := range map[string]string{
		// printf %s password | sha256sum: the old example's hash.
		"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8": "callmon.yml:10: token_hash: an unsalted SHA-256 (64 hex digits) is no longer accepted (hint: run `callmon token --id <id>`",
		"$2a$04$De7ScF7GHPiuabNpuwRmtOWinm.d/0n7ilN7pP6pudtqWylTqNF5q":     "bcrypt cost 4 is below 10",
	} {
		_, err := Parse("callmon.yml", []byte(head+"    token_hash: '"+hash+"'\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("token_hash %s: %v, want %q", hash, err, want)
		}
	}
}

func TestAutoDialNeedsOutboundEndpoint(t *testing.T) {
	_, err := Parse("callmon.yml", []byte("ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\nqueues:\n  - name: general\n    auto_dial: true\n"))
	if err == nil || !strings.Contains(err.Error(), `callmon.yml:5: queue "general" has auto_dial`) {
		t.Fatalf("err = %v", err)
	}
}
