// Package config owns callmon's configuration file: the YAML schema, its
// strict decoding (unknown keys and bad values are errors that name the file,
// the line and a fix, all of them at once), the defaults, and the secrets that
// come from the environment rather than the file. It resolves every value
// (durations, time zone, national phone numbers) so the rest of callmon never
// parses text. It must not start anything: no connections, no goroutines.
package config

import (
	"callmon/callback/phone"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"callmon/auth"

	"callmon/callback/calendar"
)

// PasswordEnv is the environment variable that holds the ARI password.
const PasswordEnv = "CALLMON_ARI_PASSWORD"

// DirectQueue is the queue label under which direct-dial calls are measured;
// no configured queue may take that name.
const DirectQueue = "direct"

// Defaults of a queue (DESIGN §3 and §4.1).
const (
	DefaultApplication  = "callmon"
	DefaultThreshold    = 30 * time.Second
	DefaultTarget       = 0.90
	DefaultShortAbandon = 5 * time.Second
	DefaultStrategy     = LongestIdle
	DefaultRingTimeout  = 15 * time.Second
	DefaultMOHClass     = "default"
	DefaultClosedPrompt = "sound:custom/closed"
)

// Ring strategies of a queue. Queue.Strategy is a plain string, as package
// ari takes it; Parse guarantees it is one of these.
const (
	// LongestIdle rings the available agent who has been idle longest.
	LongestIdle = "longest-idle"
	// RingAll rings every available agent at once; the first to answer wins.
	RingAll = "ring-all"
)

var strategies = []string{LongestIdle, RingAll}

// Config is a validated configuration with every default applied.
type Config struct {
	// File is the name the configuration was parsed from.
	File         string
	ARI          ARI
	Database     Database
	OpeningHours calendar.Config
	Queues       []Queue
	Agents       []Agent
	Supervisors  []Supervisor
	// Wallboards are screens with a read-only token of their own.
	Wallboards []Wallboard
	// Employees are reached on their own direct numbers (DESIGN §4.2).
	Employees []Employee
	Voicemail Voicemail
	Retention Retention
	Sounds    Sounds
	UI        UI
}

// DatabaseEnv names the environment variable holding the PostgreSQL URL;
// it is a secret, so it never comes from the file.
const DatabaseEnv = "DATABASE_URL"

// DefaultSpoolFile keeps call records while PostgreSQL is unreachable.
const DefaultSpoolFile = "/var/lib/callmon/spool.jsonl"

// Database is how callmon keeps its records.
type Database struct {
	// SpoolFile is the durable local spool; a relative path is resolved
	// against the configuration file's directory.
	SpoolFile string
	// MigrateOnStart applies pending migrations when `callmon run` starts.
	MigrateOnStart bool
}

// DatabaseURL is the PostgreSQL URL from DATABASE_URL, "" when unset.
func (c *Config) DatabaseURL() string { return os.Getenv(DatabaseEnv) }

// ARI is how callmon reaches Asterisk.
type ARI struct {
	// URL of the ARI root, http(s)://host:port/ari, without a trailing slash.
	URL         string
	User        string
	Application string
	// PasswordFile holds the password when PasswordEnv is not set; a
	// relative path in the file is resolved against the file's directory.
	PasswordFile string
	// OutboundEndpoint dials customers for automatic callbacks; {number}
	// is replaced by the E.164 number (e.g. PJSIP/{number}@pstn).
	OutboundEndpoint string
	// CAFile is a PEM file of the certificate authorities that sign
	// Asterisk's certificate for an https URL (a private CA); empty: the
	// system's. A relative path is resolved against the file's directory.
	CAFile string
	// Password is never read from the file; code may set it (Demo does)
	// and it then wins over the environment and PasswordFile.
	Password string
}

// Queue is one queue number's routing and service-level settings.
type Queue struct {
	Name string
	// Numbers the dialplan sends to this queue, in national form (0503164911).
	Numbers       []string
	Threshold     time.Duration // answered within this counts towards the service level
	Target        float64       // service-level target, 0 < Target <= 1
	ShortAbandon  time.Duration // abandoned within this is excluded from the denominator
	Strategy      string        // LongestIdle or RingAll
	RingTimeout   time.Duration // per ring attempt of one agent
	MOHClass      string
	WelcomePrompt string // ARI media URI, or "" for none
	ClosedPrompt  string // ARI media URI
	Agents        []string
	// CallbackOfferAfter is the wait after which a caller is offered a
	// callback; 0 offers only when no agent is logged in or when closed.
	CallbackOfferAfter time.Duration
	// CallbackCapacity is how many callbacks one 15-minute slot may hold.
	CallbackCapacity int
	// AutoDial: at the start of a callback's window callmon rings an
	// available agent, then the customer, and bridges them.
	AutoDial bool
	// AnnounceEvery: waiting callers hear their position and expected wait
	// at entry and then this often; 0 (the default) announces nothing.
	AnnounceEvery time.Duration
	// AnnounceErrorLimit: the expected wait is announced only while the
	// predictor's recent 80th-percentile error is within this; else the
	// position alone.
	AnnounceErrorLimit time.Duration
	// CallbackOfferExpected: a caller whose expected wait exceeds this, at
	// entry or at an announcement, is offered a callback at once; 0: off.
	CallbackOfferExpected time.Duration
}

// DefaultQueue returns a queue with every default applied.
func DefaultQueue(name string) Queue {
	return Queue{
		Name:         name,
		Threshold:    DefaultThreshold,
		Target:       DefaultTarget,
		ShortAbandon: DefaultShortAbandon,
		Strategy:     DefaultStrategy,
		RingTimeout:  DefaultRingTimeout,
		MOHClass:     DefaultMOHClass,
		ClosedPrompt: DefaultClosedPrompt,

		CallbackOfferAfter: DefaultCallbackOfferAfter,
		CallbackCapacity:   DefaultCallbackCapacity,
		AnnounceErrorLimit: DefaultAnnounceErrorLimit,
	}
}

// DefaultAnnounceErrorLimit bounds the predictor's recent error for announcing a wait.
const DefaultAnnounceErrorLimit = 2 * time.Minute

// Callback defaults (DESIGN §4.1 step 4).
const (
	DefaultCallbackOfferAfter = time.Minute
	DefaultCallbackCapacity   = 4
)

// Agent is a member of contact-centre staff who answers queue calls.
type Agent struct {
	ID       string
	Name     string // display name; the ID when not configured
	Endpoint string // Asterisk endpoint, TECH/resource, e.g. PJSIP/1001
	// TokenHash is the bcrypt hash of the agent's token (callmon token);
	// empty: the agent cannot use the API and page.
	TokenHash string
}

// Supervisor sees every task and every agent's page.
type Supervisor struct {
	ID, Name  string
	TokenHash string
}

// Wallboard is a screen: a read-only principal.
type Wallboard struct {
	ID, Name  string
	TokenHash string
}

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a configuration; name is used in messages and
// to resolve a relative password_file. The error, if any, joins one *Error
// per problem, sorted by line.
func Parse(name string, data []byte) (*Config, error) {
	p := &parser{file: name}
	root := p.document(data)
	if root == nil {
		return nil, p.err()
	}
	c := &Config{File: name, OpeningHours: defaultOpeningHours(), Database: Database{SpoolFile: DefaultSpoolFile},
		Voicemail: DefaultVoicemail(), Retention: DefaultRetention(),
		Sounds: Sounds{Language: DefaultSoundsLanguage, Dir: DefaultSoundsDir}, UI: UI{Language: "nl"}}
	b := &builder{parser: p, cfg: c, dir: filepath.Dir(name), anyIDs: map[string]bool{}}
	b.top(root)
	b.crossCheck()
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func defaultOpeningHours() calendar.Config {
	loc, err := time.LoadLocation(calendar.DefaultTimezone)
	if err != nil {
		// calendar embeds time/tzdata, so this cannot happen.
		panic(err)
	}
	return calendar.Config{Location: loc, Hours: calendar.DefaultHours()}
}

// Calendar builds the opening-hours calendar.
func (c *Config) Calendar() (*calendar.Calendar, error) {
	return calendar.New(c.OpeningHours)
}

// Queue returns the queue with the given name.
func (c *Config) Queue(name string) (*Queue, bool) {
	for i := range c.Queues {
		if c.Queues[i].Name == name {
			return &c.Queues[i], true
		}
	}
	return nil, false
}

// QueueByNumber returns the queue a dialled number belongs to; the number
// may be in any form NormalizeNumber accepts.
func (c *Config) QueueByNumber(number string) (*Queue, bool) {
	n, err := NormalizeNumber(number)
	if err != nil {
		return nil, false
	}
	for i := range c.Queues {
		for _, qn := range c.Queues[i].Numbers {
			if qn == n {
				return &c.Queues[i], true
			}
		}
	}
	return nil, false
}

// Agent returns the agent with the given id.
func (c *Config) Agent(id string) (*Agent, bool) {
	for i := range c.Agents {
		if c.Agents[i].ID == id {
			return &c.Agents[i], true
		}
	}
	return nil, false
}

// ARIPassword returns the ARI password: Password when code set it, else the
// environment variable CALLMON_ARI_PASSWORD, else the trimmed contents of
// password_file. Its errors never contain the password.
func (c *Config) ARIPassword() (string, error) {
	pw, _, err := c.ariPassword()
	return pw, err
}

// ariPassword also says where the password came from, for Summary.
func (c *Config) ariPassword() (pw, source string, err error) {
	if c.ARI.Password != "" {
		return c.ARI.Password, "set by the program", nil
	}
	if pw := os.Getenv(PasswordEnv); pw != "" {
		return pw, "from environment variable " + PasswordEnv, nil
	}
	if c.ARI.PasswordFile == "" {
		return "", "", fmt.Errorf("no ARI password: set the environment variable %s or ari.password_file in %s", PasswordEnv, c.File)
	}
	data, err := os.ReadFile(c.ARI.PasswordFile)
	if err != nil {
		return "", "", fmt.Errorf("ARI password: %w (set %s or fix ari.password_file in %s)", err, PasswordEnv, c.File)
	}
	pw = strings.TrimSpace(string(data))
	if pw == "" {
		return "", "", fmt.Errorf("ARI password: %s is empty", c.ARI.PasswordFile)
	}
	return pw, "from file " + c.ARI.PasswordFile, nil
}

// Demo returns a valid configuration for the simulated demo: queue "general"
// on 0503164911, agents agent01..agentNN on endpoints PJSIP/1001.., open
// around the clock every day (public holidays too) so the demo shows traffic
// whenever it is run. The ARI URL is a placeholder for the caller to replace
// with the simulated Asterisk's, and the password is "demo".
func Demo(agents int) *Config {
	q := DefaultQueue("general")
	q.Numbers = []string{"0503164911"}
	q.AnnounceEvery = time.Minute // the demo shows announcements and the offer on the prediction
	q.CallbackOfferExpected = 4 * time.Minute
	c := &Config{
		File: "demo",
		ARI: ARI{
			URL:         "http://127.0.0.1:8088/ari",
			User:        "callmon",
			Application: DefaultApplication,
			Password:    "demo",
		},
		OpeningHours: defaultOpeningHours(),
		Voicemail:    DefaultVoicemail(),
		Retention:    DefaultRetention(),
		Sounds:       Sounds{Language: DefaultSoundsLanguage},
		UI:           UI{Language: "nl"},
	}
	c.OpeningHours.Hours = calendar.Hours{
		Weekdays: []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday},
		Open:     0,
		Close:    calendar.ClockOf(24, 0),
	}
	c.OpeningHours.IgnorePublicHolidays = true
	for i := 1; i <= agents; i++ {
		id := fmt.Sprintf("agent%02d", i)
		c.Agents = append(c.Agents, Agent{
			ID:       id,
			Name:     fmt.Sprintf("Agent %02d", i),
			Endpoint: "PJSIP/" + strconv.Itoa(1000+i),
		})
		q.Agents = append(q.Agents, id)
	}
	c.Queues = []Queue{q}
	return c
}

// NormalizeNumber turns a Dutch phone number written any common way
// (050-316 49 11, +31 50 316 49 11, +31 (0)50 3164911, 0031503164911) into
// its national form, 10 digits starting with 0: 0503164911.
func NormalizeNumber(s string) (string, error) { return phone.National(s) }

var (
	idRE          = regexp.MustCompile(`^[a-z0-9_-]+$`)
	applicationRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	mohRE         = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	endpointRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*/[^\s/][^\s]*$`)
	mediaRE       = regexp.MustCompile(`^(sound|recording|tone|digits|number|characters):\S+$`)
	dmyRE         = regexp.MustCompile(`^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$`)
	shortClockRE  = regexp.MustCompile(`^\d:\d\d$`)
)

// builder fills a Config from the node tree, remembering the nodes that
// cross-checks (unique names, agents that exist) report against.
type builder struct {
	*parser
	cfg *Config
	dir string

	queueNames  []*yaml.Node // per queue, nil when missing or invalid
	queueNums   [][]numRef
	queueAgents [][]*yaml.Node
	agentIDs    []*yaml.Node
	endpoints   []*yaml.Node
	// anyIDs holds every agent id written, valid or not, so that a queue
	// naming an agent whose id is malformed is not reported twice.
	anyIDs       map[string]bool
	agentsBroken bool // the agents: value is not a list

	employeeIDs    []*yaml.Node // per employee, nil when missing or invalid
	employeeNums   [][]numRef
	employeeAgents []*yaml.Node // the agent: value, nil when not set
	mailboxes      []*yaml.Node // the mailbox: value, nil when defaulted or invalid
}

type numRef struct {
	node   *yaml.Node
	number string // normalised
}

func (b *builder) top(root *yaml.Node) {
	b.mapping(root, "", []field{
		{name: "ari", required: true, example: "an ari: section with url: and user:", set: b.ari},
		{name: "database", set: b.database},
		{name: "opening_hours", set: b.openingHours},
		{name: "queues", required: true, example: "a queues: list with at least one queue", set: b.queues},
		{name: "agents", set: b.agents},
		{name: "supervisors", set: b.supervisors},
		{name: "wallboards", set: b.wallboards},
		{name: "employees", set: b.employees},
		{name: "voicemail", set: b.voicemail},
		{name: "retention", set: b.retention},
		{name: "sounds", set: b.sounds},
		{name: "ui", set: b.ui},
	})
}

func (b *builder) ari(v *yaml.Node) {
	a := &b.cfg.ARI
	a.Application = DefaultApplication
	b.mapping(v, "ari", []field{
		{name: "url", required: true, example: "url: http://127.0.0.1:8088/ari", set: func(v *yaml.Node) {
			if s, ok := b.scalar("url", v); ok {
				a.URL = b.ariURL(v, s)
			}
		}},
		{name: "user", required: true, example: "user: callmon", set: func(v *yaml.Node) {
			s, ok := b.scalar("user", v)
			switch {
			case !ok:
			case s == "" || strings.ContainsAny(s, ": \t"):
				b.fail(v, "write the user name of an [user] section in Asterisk's ari.conf", "user: %q is not a valid ARI user name", s)
			default:
				a.User = s
			}
		}},
		{name: "application", set: func(v *yaml.Node) {
			s, ok := b.scalar("application", v)
			switch {
			case !ok:
			case !applicationRE.MatchString(s):
				b.fail(v, "use letters, digits, _ . and -, as in Stasis(callmon,...)", "application: %q is not a valid ARI application name", s)
			default:
				a.Application = s
			}
		}},
		{name: "outbound_endpoint", set: func(v *yaml.Node) {
			s, ok := b.scalar("outbound_endpoint", v)
			switch {
			case !ok:
			case !strings.Contains(s, "{number}") || !strings.Contains(s, "/"):
				b.fail(v, "write an endpoint with {number} in it, e.g. PJSIP/{number}@pstn", "outbound_endpoint: %q has no {number}", s)
			default:
				a.OutboundEndpoint = s
			}
		}},
		{name: "ca_file", set: func(v *yaml.Node) {
			s, ok := b.scalar("ca_file", v)
			switch {
			case !ok:
			case s == "":
				b.fail(v, "remove the line to trust the system's certificate authorities", "ca_file: is empty")
			case filepath.IsAbs(s):
				a.CAFile = s
			default:
				a.CAFile = filepath.Join(b.dir, s)
			}
		}},
		{name: "password_file", set: func(v *yaml.Node) {
			s, ok := b.scalar("password_file", v)
			switch {
			case !ok:
			case s == "":
				b.fail(v, "remove the line and set "+PasswordEnv+" instead", "password_file: is empty")
			case filepath.IsAbs(s):
				a.PasswordFile = s
			default:
				a.PasswordFile = filepath.Join(b.dir, s)
			}
		}},
	})
}

func (b *builder) database(v *yaml.Node) {
	d := &b.cfg.Database
	b.mapping(v, "database", []field{
		{name: "spool_file", set: func(v *yaml.Node) {
			s, ok := b.scalar("spool_file", v)
			switch {
			case !ok:
			case s == "":
				b.fail(v, "remove the line to use "+DefaultSpoolFile, "spool_file: is empty")
			case filepath.IsAbs(s):
				d.SpoolFile = s
			default:
				d.SpoolFile = filepath.Join(b.dir, s)
			}
		}},
		{name: "migrate_on_start", set: func(v *yaml.Node) { b.boolean("migrate_on_start", v, &d.MigrateOnStart) }},
	})
}

// ariURL validates the ARI root URL and returns it without a trailing slash.
func (b *builder) ariURL(v *yaml.Node, s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		b.fail(v, "write http://127.0.0.1:8088/ari", "url: %q is not a URL", s)
		return ""
	}
	// fixed is the URL the user most likely meant, for the hints.
	fixed := url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}
	switch u.Scheme {
	case "http", "https":
	case "wss":
		fixed.Scheme = "https"
	default:
		fixed.Scheme = "http"
	}
	fixed.Path = strings.TrimSuffix(fixed.Path, "/events")
	if !strings.HasSuffix(fixed.Path, "/ari") {
		fixed.Path += "/ari"
	}
	hint := "write " + fixed.String()
	switch {
	case u.Scheme == "ws" || u.Scheme == "wss":
		b.fail(v, hint+"; callmon derives the events websocket from it", "url: %q must be an http or https URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		b.fail(v, hint, "url: %q must be an http or https URL", s)
	case u.User != nil:
		b.fail(v, hint+" and put the password in "+PasswordEnv, "url: %q must not contain credentials", s)
	case u.RawQuery != "" || u.Fragment != "":
		b.fail(v, hint, "url: %q must not have a query or fragment", s)
	case !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/ari"):
		b.fail(v, hint, "url: %q does not end in /ari", s)
	default:
		return fixed.String()
	}
	return ""
}

func (b *builder) openingHours(v *yaml.Node) {
	oh := &b.cfg.OpeningHours
	var openNode, closeNode *yaml.Node
	openOK, closeOK := true, true
	b.mapping(v, "opening_hours", []field{
		{name: "timezone", set: func(v *yaml.Node) {
			s, ok := b.scalar("timezone", v)
			if !ok {
				return
			}
			loc, err := time.LoadLocation(s)
			if err != nil || s == "" || s == "Local" {
				b.fail(v, "write an IANA time zone such as Europe/Amsterdam", "timezone: %q is not a time zone", s)
				return
			}
			oh.Location = loc
		}},
		{name: "days", set: func(v *yaml.Node) { b.days(v, oh) }},
		{name: "open", set: func(v *yaml.Node) {
			openNode = v
			openOK = b.clock("open", v, &oh.Hours.Open)
			if openOK && oh.Hours.Open >= 24*60 {
				b.fail(v, "the centre opens at 23:59 at the latest", "open: 24:00 is not an opening time")
				openOK = false
			}
		}},
		{name: "close", set: func(v *yaml.Node) {
			closeNode = v
			closeOK = b.clock("close", v, &oh.Hours.Close)
		}},
		{name: "closed_on_good_friday", set: func(v *yaml.Node) { b.boolean("closed_on_good_friday", v, &oh.ClosedOnGoodFriday) }},
		{name: "closed_on_liberation_day", set: func(v *yaml.Node) { b.boolean("closed_on_liberation_day", v, &oh.ClosedOnLiberationDay) }},
		{name: "extra_closed", set: func(v *yaml.Node) { b.extraClosed(v, oh) }},
	})
	if openOK && closeOK && oh.Hours.Close <= oh.Hours.Open {
		at := closeNode
		if at == nil {
			at = openNode
		}
		b.fail(at, "opening hours are within one day, e.g. open: \"08:30\" and close: \"17:00\"", "close: %s is not after open %s", oh.Hours.Close, oh.Hours.Open)
	}
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// dayAliases maps English and Dutch day names to the short form.
var dayAliases = map[string]string{
	"sunday": "sun", "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu", "friday": "fri", "saturday": "sat",
	"zo": "sun", "ma": "mon", "di": "tue", "wo": "wed", "do": "thu", "vr": "fri", "za": "sat",
	"zondag": "sun", "maandag": "mon", "dinsdag": "tue", "woensdag": "wed", "donderdag": "thu", "vrijdag": "fri", "zaterdag": "sat",
	"tues": "tue", "thur": "thu", "thurs": "thu",
}

func (b *builder) days(v *yaml.Node, oh *calendar.Config) {
	items, ok := b.list("days", v)
	if !ok {
		return
	}
	if len(items) == 0 {
		b.fail(v, "write [mon, tue, wed, thu, fri]", "days: no working days")
		return
	}
	seen := map[time.Weekday]*yaml.Node{}
	var days []time.Weekday
	for _, it := range items {
		s, ok := b.scalar("days", it)
		if !ok {
			continue
		}
		wd, known := dayNames[s]
		if !known {
			hint := "write mon, tue, wed, thu, fri, sat or sun"
			if short, ok := dayAliases[strings.ToLower(s)]; ok {
				hint = "write " + short
			} else if _, ok := dayNames[strings.ToLower(s)]; ok {
				hint = "write " + strings.ToLower(s)
			}
			b.fail(it, hint, "days: %q is not a day", s)
			continue
		}
		if first, dup := seen[wd]; dup {
			b.fail(it, fmt.Sprintf("it is already listed on line %d", first.Line), "days: %s is listed twice", s)
			continue
		}
		seen[wd] = it
		days = append(days, wd)
	}
	oh.Hours.Weekdays = days
}

func (b *builder) clock(key string, v *yaml.Node, dst *calendar.Clock) bool {
	s, ok := b.scalar(key, v)
	if !ok {
		return false
	}
	c, err := calendar.ParseClock(s)
	if err != nil {
		hint := `write a 24-hour time as HH:MM in quotes, e.g. "08:30"`
		if shortClockRE.MatchString(s) {
			hint = fmt.Sprintf("write \"0%s\"", s)
		}
		b.fail(v, hint, "%s: %q is not a time of day", key, s)
		return false
	}
	*dst = c
	return true
}

func (b *builder) extraClosed(v *yaml.Node, oh *calendar.Config) {
	items, ok := b.list("extra_closed", v)
	if !ok {
		return
	}
	seen := map[calendar.Date]*yaml.Node{}
	for _, it := range items {
		s, ok := b.scalar("extra_closed", it)
		if !ok {
			continue
		}
		d, err := calendar.ParseDate(s)
		if err != nil {
			hint := "write the date as YYYY-MM-DD, e.g. 2026-12-24"
			if m := dmyRE.FindStringSubmatch(s); m != nil {
				day, _ := strconv.Atoi(m[1])
				month, _ := strconv.Atoi(m[2])
				hint = fmt.Sprintf("write %s-%02d-%02d", m[3], month, day)
			}
			b.fail(it, hint, "extra_closed: %q is not a date", s)
			continue
		}
		if first, dup := seen[d]; dup {
			b.fail(it, fmt.Sprintf("it is already listed on line %d", first.Line), "extra_closed: %s is listed twice", d)
			continue
		}
		seen[d] = it
		oh.ExtraClosed = append(oh.ExtraClosed, d)
	}
}

func (b *builder) queues(v *yaml.Node) {
	items, ok := b.list("queues", v)
	if !ok {
		return
	}
	if len(items) == 0 {
		b.fail(v, "add a queue, e.g. - name: general", "queues: no queues are defined")
		return
	}
	for _, it := range items {
		q := DefaultQueue("")
		var (
			nameNode        *yaml.Node
			nums            []numRef
			agents          []*yaml.Node
			thrNode, saNode *yaml.Node
			thrOK, saOK     = true, true
		)
		ok := b.mapping(it, "queue", []field{
			{name: "name", required: true, example: "name: general", set: func(v *yaml.Node) {
				s, ok := b.scalar("name", v)
				if !ok {
					return
				}
				if b.checkID("name", v, s, "queue") {
					if s == DirectQueue {
						b.fail(v, "choose another name", "name: %q is reserved: direct-dial calls are measured as queue %q", s, DirectQueue)
						return
					}
					q.Name, nameNode = s, v
				}
			}},
			{name: "numbers", set: func(v *yaml.Node) { nums = b.numbers(v, "0503164911") }},
			{name: "threshold", set: func(v *yaml.Node) {
				thrNode = v
				if thrOK = b.duration("threshold", v, &q.Threshold); thrOK && q.Threshold <= 0 {
					b.fail(v, "write a positive duration such as 30s", "threshold: %s is not positive", q.Threshold)
					thrOK = false
				}
			}},
			{name: "target", set: func(v *yaml.Node) { b.target(v, &q.Target) }},
			{name: "short_abandon", set: func(v *yaml.Node) {
				saNode = v
				if saOK = b.duration("short_abandon", v, &q.ShortAbandon); saOK && q.ShortAbandon < 0 {
					b.fail(v, "write 0s to count every abandon, or a positive duration such as 5s", "short_abandon: %s is negative", q.ShortAbandon)
					saOK = false
				}
			}},
			{name: "strategy", set: func(v *yaml.Node) {
				s, ok := b.scalar("strategy", v)
				if !ok {
					return
				}
				switch s {
				case LongestIdle, RingAll:
					q.Strategy = s
				default:
					hint := "write longest-idle or ring-all"
					if sug := suggest(s, strategies); sug != "" {
						hint = fmt.Sprintf("did you mean %q?", sug)
					}
					b.fail(v, hint, "strategy: %q is not a strategy", s)
				}
			}},
			{name: "announce_every", set: func(v *yaml.Node) {
				if b.duration("announce_every", v, &q.AnnounceEvery) && q.AnnounceEvery != 0 && q.AnnounceEvery < 20*time.Second {
					b.fail(v, "write 0s for no announcements, or 20s or more such as 60s", "announce_every: %s is shorter than an announcement (20s)", q.AnnounceEvery)
				}
			}},
			{name: "announce_error_limit", set: func(v *yaml.Node) {
				if b.duration("announce_error_limit", v, &q.AnnounceErrorLimit) && q.AnnounceErrorLimit <= 0 {
					b.fail(v, "write a positive duration such as 2m", "announce_error_limit: %s is not positive", q.AnnounceErrorLimit)
				}
			}},
			{name: "callback_offer_expected_wait", set: func(v *yaml.Node) {
				if b.duration("callback_offer_expected_wait", v, &q.CallbackOfferExpected) && q.CallbackOfferExpected < 0 {
					b.fail(v, "write 0s to not offer on the prediction, or a duration such as 4m", "callback_offer_expected_wait: %s is negative", q.CallbackOfferExpected)
				}
			}},
			{name: "callback_offer_after", set: func(v *yaml.Node) {
				if b.duration("callback_offer_after", v, &q.CallbackOfferAfter) && q.CallbackOfferAfter < 0 {
					b.fail(v, "write 60s, or 0s to offer only when no agent is logged in or when closed", "callback_offer_after: %s is negative", q.CallbackOfferAfter)
				}
			}},
			{name: "callback_capacity", set: func(v *yaml.Node) {
				s, ok := b.scalar("callback_capacity", v)
				if !ok {
					return
				}
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 || n > 1000 {
					b.fail(v, "write how many callbacks agents can make in 15 minutes, e.g. 4", "callback_capacity: %q is not a number from 1 to 1000", s)
					return
				}
				q.CallbackCapacity = n
			}},
			{name: "ring_timeout", set: func(v *yaml.Node) {
				if b.duration("ring_timeout", v, &q.RingTimeout) && q.RingTimeout < time.Second {
					b.fail(v, "write at least 1s; 15s is usual", "ring_timeout: %s is shorter than a second", q.RingTimeout)
				}
			}},
			{name: "moh_class", set: func(v *yaml.Node) {
				s, ok := b.scalar("moh_class", v)
				switch {
				case !ok:
				case !mohRE.MatchString(s):
					b.fail(v, "write the name of a class in Asterisk's musiconhold.conf, e.g. default", "moh_class: %q is not a music-on-hold class name", s)
				default:
					q.MOHClass = s
				}
			}},
			{name: "welcome_prompt", set: func(v *yaml.Node) {
				if s, ok := b.scalar("welcome_prompt", v); ok && (s == "" || b.media("welcome_prompt", v, s)) {
					q.WelcomePrompt = s
				}
			}},
			{name: "closed_prompt", set: func(v *yaml.Node) {
				s, ok := b.scalar("closed_prompt", v)
				switch {
				case !ok:
				case s == "":
					b.fail(v, "remove the line for the default "+DefaultClosedPrompt, "closed_prompt: is empty; closed callers must hear why")
				case b.media("closed_prompt", v, s):
					q.ClosedPrompt = s
				}
			}},
			{name: "auto_dial", set: func(v *yaml.Node) { b.boolean("auto_dial", v, &q.AutoDial) }},
			{name: "agents", set: func(v *yaml.Node) {
				items, _ := b.list("agents", v)
				for _, it := range items {
					if s, ok := b.scalar("agents", it); ok {
						q.Agents = append(q.Agents, s)
						agents = append(agents, it)
					}
				}
			}},
		})
		if ok && thrOK && saOK && q.ShortAbandon >= q.Threshold {
			at, key := saNode, "short_abandon"
			if saNode == nil {
				at, key = thrNode, "threshold"
			}
			b.fail(at, "short abandons are a few seconds, well inside the threshold", "%s: short_abandon %s is not shorter than threshold %s", key, q.ShortAbandon, q.Threshold)
		}
		for _, n := range nums {
			q.Numbers = append(q.Numbers, n.number)
		}
		b.cfg.Queues = append(b.cfg.Queues, q)
		b.queueNames = append(b.queueNames, nameNode)
		b.queueNums = append(b.queueNums, nums)
		b.queueAgents = append(b.queueAgents, agents)
	}
}

// tokenHash accepts the bcrypt hash of a token, never the token itself nor
// the unsalted SHA-256 of earlier versions.
func (b *builder) tokenHash(v *yaml.Node, s string) string {
	if err := auth.CheckHashForm(s); err != nil {
		hint := "run `callmon token --id <id>`: it prints a new token for the person and the bcrypt hash for token_hash"
		if errors.Is(err, auth.ErrUnsaltedHash) {
			b.fail(v, hint, "token_hash: an unsalted SHA-256 (64 hex digits) is no longer accepted")
		} else {
			b.fail(v, hint, "token_hash: not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)")
		}
		return ""
	}
	if c, _ := bcrypt.Cost([]byte(s)); c < bcrypt.DefaultCost {
		b.fail(v, "run `callmon token --id <id>` for a hash of cost 10 or more", "token_hash: bcrypt cost %d is below %d", c, bcrypt.DefaultCost)
		return ""
	}
	return s
}

func (b *builder) wallboards(v *yaml.Node) {
	for _, p := range b.principals(v, "wallboard", "hal-1") {
		b.cfg.Wallboards = append(b.cfg.Wallboards, Wallboard(p))
	}
}

func (b *builder) supervisors(v *yaml.Node) {
	for _, p := range b.principals(v, "supervisor", "sanne") {
		b.cfg.Supervisors = append(b.cfg.Supervisors, Supervisor(p))
	}
}

// principals reads a list of people or screens that sign in with a token:
// id, optional name (the id if absent) and token_hash.
func (b *builder) principals(v *yaml.Node, kind, exampleID string) []Supervisor {
	items, _ := b.list(kind+"s", v)
	var out []Supervisor
	for _, it := range items {
		var p Supervisor
		b.mapping(it, kind, []field{
			{name: "id", required: true, example: "id: " + exampleID, set: func(v *yaml.Node) {
				if s, ok := b.scalar("id", v); ok {
					if !idRE.MatchString(s) {
						b.fail(v, "use lower-case letters, digits, _ and -", "id: %q is not a valid %s id", s, kind)
						return
					}
					p.ID = s
				}
			}},
			{name: "name", set: func(v *yaml.Node) {
				if s, ok := b.scalar("name", v); ok {
					p.Name = strings.TrimSpace(s)
				}
			}},
			{name: "token_hash", required: true, example: "token_hash: <bcrypt hash from callmon token>", set: func(v *yaml.Node) {
				if s, ok := b.scalar("token_hash", v); ok {
					p.TokenHash = b.tokenHash(v, s)
				}
			}},
		})
		if p.Name == "" {
			p.Name = p.ID
		}
		out = append(out, p)
	}
	return out
}

// checkID validates a name or id used as a Prometheus label value or key.
func (b *builder) checkID(key string, v *yaml.Node, s, what string) bool {
	if idRE.MatchString(s) {
		return true
	}
	fixed := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == ' ' || r == '.':
			return '_'
		}
		return -1
	}, s)
	hint := "use lower-case letters, digits, _ and -"
	if fixed != "" {
		hint = "write " + fixed
	}
	b.fail(v, hint, "%s: %q is not a valid %s %s", key, s, what, key)
	return false
}

func (b *builder) target(v *yaml.Node, dst *float64) {
	s, ok := b.scalar("target", v)
	if !ok {
		return
	}
	if pct, isPct := strings.CutSuffix(strings.TrimSpace(s), "%"); isPct {
		if f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64); err == nil {
			b.fail(v, fmt.Sprintf("write %s", strconv.FormatFloat(f/100, 'f', -1, 64)), "target: %q is a percentage; write a fraction", s)
			return
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		b.fail(v, "write a fraction such as 0.90 for 90 %", "target: %q is not a number", s)
	case f > 1 && f <= 100:
		b.fail(v, fmt.Sprintf("write %s for %s %%", strconv.FormatFloat(f/100, 'f', -1, 64), s), "target: %s is not between 0 and 1", s)
	case f <= 0 || f > 1:
		b.fail(v, "write a fraction such as 0.90 for 90 %", "target: %s is not between 0 and 1", s)
	default:
		*dst = f
	}
}

func (b *builder) media(key string, v *yaml.Node, s string) bool {
	if mediaRE.MatchString(s) {
		return true
	}
	hint := "write an ARI media URI such as sound:custom/welcome"
	if !strings.Contains(s, ":") && !strings.ContainsAny(s, " \t") {
		scheme := "sound:" // a file in Asterisk's sounds directory
		if key == "greeting" {
			scheme = "recording:" // greetings are usually recorded by the employee
		}
		hint = "write " + scheme + strings.TrimSuffix(strings.TrimSuffix(s, ".wav"), ".gsm")
	}
	b.fail(v, hint, "%s: %q is not an ARI media URI", key, s)
	return false
}

func (b *builder) agents(v *yaml.Node) {
	items, ok := b.list("agents", v)
	if !ok {
		b.agentsBroken = true
		return
	}
	for _, it := range items {
		var a Agent
		var idNode, epNode *yaml.Node
		if !b.mapping(it, "agent", []field{
			{name: "id", required: true, example: "id: anna", set: func(v *yaml.Node) {
				s, ok := b.scalar("id", v)
				if ok {
					b.anyIDs[s] = true
				}
				if ok && b.checkID("id", v, s, "agent") {
					a.ID, idNode = s, v
				}
			}},
			{name: "name", set: func(v *yaml.Node) {
				if s, ok := b.scalar("name", v); ok {
					a.Name = strings.TrimSpace(s)
				}
			}},
			{name: "endpoint", required: true, example: "endpoint: PJSIP/1001", set: func(v *yaml.Node) {
				if s, ok := b.endpoint(v); ok {
					a.Endpoint, epNode = s, v
				}
			}},
			{name: "token_hash", set: func(v *yaml.Node) {
				if s, ok := b.scalar("token_hash", v); ok {
					a.TokenHash = b.tokenHash(v, s)
				}
			}},
		}) {
			b.agentsBroken = true
		}
		if a.Name == "" {
			a.Name = a.ID
		}
		b.cfg.Agents = append(b.cfg.Agents, a)
		b.agentIDs = append(b.agentIDs, idNode)
		b.endpoints = append(b.endpoints, epNode)
	}
}

// endpoint validates an Asterisk endpoint, TECH/resource.
func (b *builder) endpoint(v *yaml.Node) (string, bool) {
	s, ok := b.scalar("endpoint", v)
	switch {
	case !ok:
	case strings.HasPrefix(strings.ToUpper(s), "SIP/"):
		b.fail(v, "write PJSIP/"+s[4:], "endpoint: %q uses chan_sip, which Asterisk 21 removed", s)
	case !endpointRE.MatchString(s):
		hint := "write TECH/resource, e.g. PJSIP/1001"
		if !strings.Contains(s, "/") && s != "" && !strings.ContainsAny(s, " \t") {
			hint = "write PJSIP/" + s
		}
		b.fail(v, hint, "endpoint: %q is not an Asterisk endpoint", s)
	default:
		return s, true
	}
	return "", false
}

// crossCheck reports what no single value shows: duplicate queue names,
// numbers, agent ids and endpoints, and queues naming agents that do not
// exist. It skips values that were already reported as invalid.
func (b *builder) crossCheck() {
	c := b.cfg
	for i, q := range c.Queues {
		if q.AutoDial && c.ARI.OutboundEndpoint == "" && b.queueNames[i] != nil {
			b.fail(b.queueNames[i], "set ari.outbound_endpoint, e.g. PJSIP/{number}@pstn, or auto_dial: false",
				"queue %q has auto_dial but callmon has no way to dial customers", q.Name)
		}
	}
	names := map[string]*yaml.Node{}
	for i, q := range c.Queues {
		if node := b.queueNames[i]; node != nil {
			if first, dup := names[q.Name]; dup {
				b.fail(node, fmt.Sprintf("the first is on line %d; queue names must be unique", first.Line), "name: queue %q is defined twice", q.Name)
			} else {
				names[q.Name] = node
			}
		}
	}
	b.checkNumbers()

	ids := map[string]*yaml.Node{}
	var idList []string
	eps := map[string]*yaml.Node{}
	for i, a := range c.Agents {
		if node := b.agentIDs[i]; node != nil {
			if first, dup := ids[a.ID]; dup {
				b.fail(node, fmt.Sprintf("the first is on line %d; agent ids must be unique", first.Line), "id: agent %q is defined twice", a.ID)
			} else {
				ids[a.ID] = node
				idList = append(idList, a.ID)
			}
		}
		if node := b.endpoints[i]; node != nil {
			key := strings.ToUpper(a.Endpoint)
			if first, dup := eps[key]; dup {
				b.fail(node, fmt.Sprintf("it is already the endpoint on line %d; each agent needs their own phone", first.Line), "endpoint: %s is used by two agents", a.Endpoint)
			} else {
				eps[key] = node
			}
		}
	}

	for i, q := range c.Queues {
		seen := map[string]*yaml.Node{}
		for j, id := range q.Agents {
			node := b.queueAgents[i][j]
			if first, dup := seen[id]; dup {
				b.fail(node, fmt.Sprintf("it is already listed on line %d", first.Line), "agents: %q is listed twice in queue %q", id, q.Name)
				continue
			}
			seen[id] = node
			if ids[id] == nil && !b.anyIDs[id] && !b.agentsBroken {
				hint := fmt.Sprintf("define it under agents: with id: %s", id)
				if s := suggest(id, idList); s != "" {
					hint = fmt.Sprintf("did you mean %q?", s)
				}
				b.fail(node, hint, "agents: agent %q is not defined", id)
			}
		}
	}

	b.checkEmployees(ids, idList)

	if len(b.errs) == 0 {
		if _, err := c.Calendar(); err != nil {
			// Everything calendar.New checks is validated above with a
			// line; this backstop keeps the promise that a parsed Config
			// always yields a Calendar.
			b.fail(nil, "check opening_hours", "opening_hours: %v", err)
		}
	}
}
