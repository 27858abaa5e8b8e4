package config

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"callmon/callback/calendar"
)

// Summary writes a human summary of the configuration, as `callmon
// check-config` shows it: ARI, opening hours with the closed days of the
// coming 12 months, queues, agents, employees and voicemail. It never writes the password, only
// whether one is set and where it comes from.
func (c *Config) Summary(w io.Writer) error {
	return c.SummaryAt(w, time.Now())
}

// SummaryAt is Summary with the holidays listed from now on.
func (c *Config) SummaryAt(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	pf := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	pf("Configuration %s\n\n", c.File)

	pf("ARI\n")
	pf("  url\t%s\n", c.ARI.URL)
	pf("  user\t%s\n", c.ARI.User)
	pf("  application\t%s\n", c.ARI.Application)
	if c.ARI.CAFile != "" {
		pf("  ca_file\t%s\n", c.ARI.CAFile)
	}
	if _, source, err := c.ariPassword(); err != nil {
		pf("  password\tNOT SET: %v\n", err)
	} else {
		pf("  password\tset, %s\n", source)
	}

	pf("\nDatabase\n")
	if c.DatabaseURL() == "" {
		pf("  url\tNOT SET (%s): counting in memory only\n", DatabaseEnv)
	} else {
		pf("  url\tset, from environment variable %s\n", DatabaseEnv)
	}
	pf("  spool file\t%s\n", c.Database.SpoolFile)
	pf("  migrate on start\t%v\n", c.Database.MigrateOnStart)

	oh := c.OpeningHours
	loc := oh.Location
	if loc == nil {
		loc = time.UTC
	}
	pf("\nOpening hours (%s)\n", loc)
	pf("  days\t%s\n", formatDays(oh.Hours.Weekdays))
	pf("  hours\t%s–%s\n", oh.Hours.Open, oh.Hours.Close)
	if oh.IgnorePublicHolidays {
		pf("  public holidays\topen\n")
	} else {
		pf("  public holidays\tclosed (Netherlands)\n")
		pf("  Good Friday\t%s\n", openOrClosed(oh.ClosedOnGoodFriday))
		pf("  Liberation Day (5 May)\t%s\n", openOrClosed(oh.ClosedOnLiberationDay))
	}
	if len(oh.ExtraClosed) > 0 {
		ds := make([]string, len(oh.ExtraClosed))
		for i, d := range oh.ExtraClosed {
			ds[i] = d.String()
		}
		pf("  extra closed days\t%s\n", strings.Join(ds, ", "))
	}
	if cal, err := c.Calendar(); err != nil {
		pf("  INVALID: %v\n", err)
	} else {
		from := calendar.DateOf(now.In(cal.Location()))
		to := calendar.DateOf(now.In(cal.Location()).AddDate(1, 0, 0))
		closures := cal.Closures(from, to)
		pf("  closed until %s\t%d day(s)\n", to, len(closures))
		working := map[time.Weekday]bool{}
		for _, wd := range oh.Hours.Weekdays {
			working[wd] = true
		}
		for _, cl := range closures {
			note := ""
			if !working[cl.Date.Weekday()] {
				note = " (not a working day anyway)"
			}
			pf("    %s %s\t%s%s\n", cl.Date.Weekday().String()[:3], cl.Date, cl.Name, note)
		}
		if cal.IsOpen(now) {
			pf("  now\topen\n")
		} else {
			pf("  now\tclosed; opens %s\n", cal.NextOpen(now).In(cal.Location()).Format("Mon 2006-01-02 15:04 MST"))
		}
	}

	inQueue := map[string][]string{}
	pf("\nQueues (%d; direct-dial calls are measured as queue %q)\n", len(c.Queues), DirectQueue)
	for _, q := range c.Queues {
		nums := "none"
		if len(q.Numbers) > 0 {
			nums = strings.Join(q.Numbers, ", ")
		}
		welcome := q.WelcomePrompt
		if welcome == "" {
			welcome = "none"
		}
		pf("  %s\n", q.Name)
		pf("    numbers\t%s\n", nums)
		pf("    service level\t%s answered within %s (short abandons under %s not counted)\n",
			formatPercent(q.Target), formatDuration(q.Threshold), formatDuration(q.ShortAbandon))
		pf("    ringing\t%s, %s per attempt\n", q.Strategy, formatDuration(q.RingTimeout))
		pf("    prompts\twelcome %s, closed %s, music on hold %q\n", welcome, q.ClosedPrompt, q.MOHClass)
		ann := "none"
		if q.AnnounceEvery > 0 {
			ann = fmt.Sprintf("place in line and expected wait at entry and every %s (the wait only while the prediction's recent error is within %s)",
				formatDuration(q.AnnounceEvery), formatDuration(q.AnnounceErrorLimit))
		}
		pf("    announcements\t%s\n", ann)
		offer := "with no agent logged in or when closed"
		if q.CallbackOfferAfter > 0 {
			offer += ", after " + formatDuration(q.CallbackOfferAfter) + " of waiting"
		}
		if q.CallbackOfferExpected > 0 {
			offer += ", at once when the expected wait exceeds " + formatDuration(q.CallbackOfferExpected)
		}
		pf("    callback offer\t%s\n", offer)
		var names []string
		for _, id := range q.Agents {
			inQueue[id] = append(inQueue[id], q.Name)
			if a, ok := c.Agent(id); ok && a.Name != a.ID {
				names = append(names, fmt.Sprintf("%s (%s)", id, a.Name))
			} else {
				names = append(names, id)
			}
		}
		if len(names) == 0 {
			names = []string{"none: every call is offered a callback"}
		}
		pf("    agents\t%s\n", strings.Join(names, ", "))
	}

	pf("\nAgents (%d)\n", len(c.Agents))
	for _, a := range c.Agents {
		queues := "in no queue"
		if qs := inQueue[a.ID]; len(qs) > 0 {
			queues = "queues " + strings.Join(qs, ", ")
		}
		pf("  %s\t%s\t%s\t%s\n", a.ID, a.Name, a.Endpoint, queues)
	}

	pf("\nEmployees (%d; direct dial, measured as queue %q)\n", len(c.Employees), DirectQueue)
	for _, e := range c.Employees {
		if e.Name != e.ID {
			pf("  %s (%s)\n", e.ID, e.Name)
		} else {
			pf("  %s\n", e.ID)
		}
		pf("    numbers\t%s\n", strings.Join(e.Numbers, ", "))
		pf("    rings\t%s for %s, then voicemail\n", e.Endpoint, formatDuration(e.DirectRingTimeout))
		switch {
		case c.Voicemail.Mode == VoicemailDialplan:
			pf("    greeting\tapp_voicemail's\n")
		case e.Greeting != "":
			pf("    greeting\t%s\n", e.Greeting)
		default:
			pf("    greeting\tdefault, naming %s\n", e.Name)
		}
		pf("    mailbox\t%s\n", e.Mailbox)
		if e.Agent != "" {
			pf("    voicemail tasks\tfor agent %s\n", e.Agent)
		} else {
			pf("    voicemail tasks\tfor %s\n", e.ID)
		}
	}

	vm := c.Voicemail
	pf("\nVoicemail\n")
	switch vm.Mode {
	case VoicemailDialplan:
		pf("  mode\tdialplan: callers continue in context %s (VoiceMail() records; app_voicemail keeps the waiting indicators)\n", vm.Context)
	default:
		pf("  mode\tari: callmon records and sets the waiting indicators (res_mwi_external)\n")
		silence := "never stops for silence"
		if vm.MaxSilence > 0 {
			silence = "stops after " + formatDuration(vm.MaxSilence) + " of silence"
		}
		pf("  recording\tup to %s, %s or on #\n", formatDuration(vm.MaxDuration), silence)
		pf("  shortest message\t%s (shorter ones are discarded)\n", formatDuration(vm.MinDuration))
	}

	pf("\nSounds\n")
	if c.Sounds.Dir == "" {
		pf("  prompts\tin language %s; not checked (no sounds directory)\n", c.Sounds.Language)
	} else {
		pf("  prompts\tin language %s, checked at start in %s/%s/\n", c.Sounds.Language, c.Sounds.Dir, c.Sounds.Language)
	}

	r := c.Retention
	pf("\nRetention (AVG)\n")
	pf("  call records	caller numbers removed %s after the call\n", formatPeriod(r.CallRecords))
	pf("  tasks	number, name and notes removed %s after done, failed or cancelled\n", formatPeriod(r.Tasks))
	pf("  voicemails	recording and caller removed %s after the message\n", formatPeriod(r.Voicemails))
	return tw.Flush()
}

func openOrClosed(closed bool) string {
	if closed {
		return "closed"
	}
	return "open"
}

func formatPercent(f float64) string {
	// Round to hundredths of a percent: 0.9*100 is 90.00000000000001.
	return strconv.FormatFloat(math.Round(f*10000)/100, 'f', -1, 64) + " %"
}

func formatDays(days []time.Weekday) string {
	if len(days) == 0 {
		return "none"
	}
	s := make([]string, len(days))
	for i, d := range days {
		s[i] = strings.ToLower(d.String()[:3])
	}
	return strings.Join(s, ", ")
}

// formatDuration writes 1m rather than time.Duration's 1m0s, so the summary
// reads like the file.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
