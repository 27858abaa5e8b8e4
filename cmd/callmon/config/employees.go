package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Direct dial and voicemail (DESIGN §4.2).

// Defaults of an employee.
const (
	DefaultDirectRingTimeout = 20 * time.Second
	// DefaultMailboxContext completes an employee's default mailbox name:
	// <id>@callmon.
	DefaultMailboxContext = "callmon"
)

// Voicemail modes.
const (
	// VoicemailARI: callmon plays the greeting, records the message through
	// ARI and sets the waiting indicator with ARI's mailboxes resource
	// (Asterisk's res_mwi_external).
	VoicemailARI = "ari"
	// VoicemailDialplan: callmon hands the caller to a dialplan context that
	// runs app_voicemail's VoiceMail(); app_voicemail keeps the indicator.
	VoicemailDialplan = "dialplan"
)

var voicemailModes = []string{VoicemailARI, VoicemailDialplan}

// Defaults of voicemail (DESIGN §4.2 step 3).
const (
	DefaultVoicemailMode = VoicemailARI
	DefaultMaxDuration   = 180 * time.Second
	DefaultMaxSilence    = 5 * time.Second
	DefaultMinDuration   = time.Second
)

// Employee is a person reached on a direct number of their own; a caller
// they do not answer leaves a message (a voicemail task for them).
type Employee struct {
	ID   string
	Name string // display name; the ID when not configured
	// Numbers are the employee's direct numbers in national form
	// (0503161234); no queue or other employee has them.
	Numbers  []string
	Endpoint string // Asterisk endpoint, TECH/resource, e.g. PJSIP/2001
	// Greeting is an ARI media URI of the employee's own greeting, e.g.
	// recording:greeting-anna; "" plays the default greeting naming Name.
	Greeting string
	// Agent is the employee's agent id when they are also an agent (it is
	// defined under agents:); "" otherwise.
	Agent string
	// Mailbox is the employee's mailbox: the name in ARI's mailboxes
	// resource (mode ari) whose waiting indicator callmon sets; by default
	// <id>@callmon. No two employees share one.
	Mailbox string
	// DirectRingTimeout is how long the endpoint rings before the caller
	// goes to voicemail.
	DirectRingTimeout time.Duration
	// TokenHash is the bcrypt hash of the employee's token, for their
	// voicemails and tasks; an employee who is an agent uses the agent's.
	TokenHash string
}

// TaskAssignee is whom the employee's voicemail tasks are for: their agent
// id when they are also an agent, else their employee id.
func (e *Employee) TaskAssignee() string {
	if e.Agent != "" {
		return e.Agent
	}
	return e.ID
}

// DefaultEmployee returns an employee with every default applied.
func DefaultEmployee(id string) Employee {
	e := Employee{ID: id, Name: id, DirectRingTimeout: DefaultDirectRingTimeout}
	if id != "" {
		e.Mailbox = id + "@" + DefaultMailboxContext
	}
	return e
}

// Voicemail is how messages are taken when an employee does not answer.
type Voicemail struct {
	Mode string // VoicemailARI or VoicemailDialplan
	// Context is the dialplan context that runs VoiceMail() (mode
	// dialplan; always set then).
	Context string
	// MaxDuration is the longest message (whole seconds, at least 1s).
	MaxDuration time.Duration
	// MaxSilence stops the recording after this much silence (whole
	// seconds); 0 never stops it for silence.
	MaxSilence time.Duration
	// MinDuration: a shorter message is discarded; less than MaxDuration.
	MinDuration time.Duration
}

// DefaultVoicemail returns the voicemail settings with every default applied.
func DefaultVoicemail() Voicemail {
	return Voicemail{
		Mode:        DefaultVoicemailMode,
		MaxDuration: DefaultMaxDuration,
		MaxSilence:  DefaultMaxSilence,
		MinDuration: DefaultMinDuration,
	}
}

// Employee returns the employee with the given id.
func (c *Config) Employee(id string) (*Employee, bool) {
	for i := range c.Employees {
		if c.Employees[i].ID == id {
			return &c.Employees[i], true
		}
	}
	return nil, false
}

// EmployeeByNumber returns the employee a dialled direct number belongs to;
// the number may be in any form NormalizeNumber accepts (0503161234,
// +31503161234, 050-316 12 34).
func (c *Config) EmployeeByNumber(number string) (*Employee, bool) {
	n, err := NormalizeNumber(number)
	if err != nil {
		return nil, false
	}
	for i := range c.Employees {
		if slices.Contains(c.Employees[i].Numbers, n) {
			return &c.Employees[i], true
		}
	}
	return nil, false
}

var (
	mailboxRE = regexp.MustCompile(`^[A-Za-z0-9_.+-]+(@[A-Za-z0-9_.-]+)?$`)
	contextRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

// numbers reads a list of phone numbers, normalised.
func (b *builder) numbers(v *yaml.Node, example string) []numRef {
	items, _ := b.list("numbers", v)
	var nums []numRef
	for _, it := range items {
		s, ok := b.scalar("numbers", it)
		if !ok {
			continue
		}
		n, err := NormalizeNumber(s)
		if err != nil {
			b.fail(it, "write a Dutch number of 10 digits starting with 0, e.g. "+example, "numbers: %q is not a Dutch phone number", s)
			continue
		}
		nums = append(nums, numRef{node: it, number: n})
	}
	return nums
}

// wholeSeconds reads a duration that Asterisk takes in whole seconds.
func (b *builder) wholeSeconds(key string, v *yaml.Node, dst *time.Duration, min time.Duration, hint string) bool {
	var d time.Duration
	if !b.duration(key, v, &d) {
		return false
	}
	switch {
	case d < min && min > 0:
		b.fail(v, hint, "%s: %s is shorter than %s", key, d, min)
	case d < 0:
		b.fail(v, hint, "%s: %s is negative", key, d)
	case d%time.Second != 0:
		lo := d.Truncate(time.Second)
		hi := lo + time.Second
		if lo < max(min, time.Second) {
			b.fail(v, fmt.Sprintf("write %s; Asterisk takes it in whole seconds", formatDuration(hi)), "%s: %s is not a whole number of seconds", key, d)
		} else {
			b.fail(v, fmt.Sprintf("write %s or %s; Asterisk takes it in whole seconds", formatDuration(lo), formatDuration(hi)), "%s: %s is not a whole number of seconds", key, d)
		}
	default:
		*dst = d
		return true
	}
	return false
}

func (b *builder) employees(v *yaml.Node) {
	items, _ := b.list("employees", v)
	for _, it := range items {
		e := DefaultEmployee("")
		e.Name = ""
		var idNode, agentNode, mailboxNode, tokenNode *yaml.Node
		mailboxGiven := false
		var nums []numRef
		b.mapping(it, "employee", []field{
			{name: "id", required: true, example: "id: anna", set: func(v *yaml.Node) {
				if s, ok := b.scalar("id", v); ok && b.checkID("id", v, s, "employee") {
					e.ID, idNode = s, v
				}
			}},
			{name: "name", set: func(v *yaml.Node) {
				if s, ok := b.scalar("name", v); ok {
					e.Name = strings.TrimSpace(s)
				}
			}},
			{name: "numbers", required: true, example: "numbers: [050-316 12 34], the employee's direct number", set: func(v *yaml.Node) {
				empty := (v.Kind == yaml.SequenceNode && len(v.Content) == 0) || (v.Kind == yaml.ScalarNode && v.Tag == "!!null")
				if empty {
					b.fail(v, "write the employee's direct number, e.g. [050-316 12 34]", "numbers: the employee has no direct number")
					return
				}
				nums = b.numbers(v, "0503161234")
			}},
			{name: "endpoint", required: true, example: "endpoint: PJSIP/2001", set: func(v *yaml.Node) {
				if s, ok := b.endpoint(v); ok {
					e.Endpoint = s
				}
			}},
			{name: "greeting", set: func(v *yaml.Node) {
				if s, ok := b.scalar("greeting", v); ok && (s == "" || b.media("greeting", v, s)) {
					e.Greeting = s
				}
			}},
			{name: "agent", set: func(v *yaml.Node) {
				if s, ok := b.scalar("agent", v); ok {
					e.Agent, agentNode = s, v
				}
			}},
			{name: "mailbox", set: func(v *yaml.Node) {
				mailboxGiven = true
				s, ok := b.scalar("mailbox", v)
				switch {
				case !ok:
				case !mailboxRE.MatchString(s):
					b.fail(v, "write a mailbox name such as anna@callmon (letters, digits, _ . + -, optionally @context)", "mailbox: %q is not a mailbox name", s)
				default:
					e.Mailbox, mailboxNode = s, v
				}
			}},
			{name: "token_hash", set: func(v *yaml.Node) {
				if s, ok := b.scalar("token_hash", v); ok {
					e.TokenHash = b.tokenHash(v, s)
					tokenNode = v
				}
			}},
			{name: "direct_ring_timeout", set: func(v *yaml.Node) {
				if b.duration("direct_ring_timeout", v, &e.DirectRingTimeout) && e.DirectRingTimeout < time.Second {
					b.fail(v, "write at least 1s; 20s is usual", "direct_ring_timeout: %s is shorter than a second", e.DirectRingTimeout)
					e.DirectRingTimeout = DefaultDirectRingTimeout
				}
			}},
		})
		if e.Name == "" {
			e.Name = e.ID
		}
		if tokenNode != nil && e.Agent != "" {
			b.fail(tokenNode, "remove token_hash: the employee signs in with the token of agent "+e.Agent, "token_hash: employee %q is agent %q", e.ID, e.Agent)
		}
		if !mailboxGiven && e.ID != "" {
			e.Mailbox = e.ID + "@" + DefaultMailboxContext
		}
		for _, n := range nums {
			e.Numbers = append(e.Numbers, n.number)
		}
		b.cfg.Employees = append(b.cfg.Employees, e)
		b.employeeIDs = append(b.employeeIDs, idNode)
		b.employeeNums = append(b.employeeNums, nums)
		b.employeeAgents = append(b.employeeAgents, agentNode)
		b.mailboxes = append(b.mailboxes, mailboxNode)
	}
}

func (b *builder) voicemail(v *yaml.Node) {
	vm := &b.cfg.Voicemail
	var modeNode, maxNode, minNode *yaml.Node
	maxOK, minOK := true, true
	hasContext := false
	b.mapping(v, "voicemail", []field{
		{name: "mode", set: func(v *yaml.Node) {
			s, ok := b.scalar("mode", v)
			if !ok {
				return
			}
			switch s {
			case VoicemailARI, VoicemailDialplan:
				vm.Mode, modeNode = s, v
			default:
				hint := "write ari (callmon records) or dialplan (app_voicemail records)"
				if sug := suggest(s, voicemailModes); sug != "" {
					hint = fmt.Sprintf("did you mean %q?", sug)
				}
				b.fail(v, hint, "mode: %q is not a voicemail mode", s)
			}
		}},
		{name: "context", set: func(v *yaml.Node) {
			hasContext = true
			s, ok := b.scalar("context", v)
			switch {
			case !ok:
			case !contextRE.MatchString(s):
				b.fail(v, "write the name of a context in extensions.conf, e.g. callmon-voicemail", "context: %q is not a dialplan context name", s)
			default:
				vm.Context = s
			}
		}},
		{name: "max_duration", set: func(v *yaml.Node) {
			maxNode = v
			maxOK = b.wholeSeconds("max_duration", v, &vm.MaxDuration, time.Second, "write at least 1s; 180s is usual")
		}},
		{name: "max_silence", set: func(v *yaml.Node) {
			b.wholeSeconds("max_silence", v, &vm.MaxSilence, 0, "write 5s, or 0s never to stop for silence")
		}},
		{name: "min_duration", set: func(v *yaml.Node) {
			minNode = v
			if minOK = b.duration("min_duration", v, &vm.MinDuration); minOK && vm.MinDuration < 0 {
				b.fail(v, "write 0s to keep every message, or a short duration such as 1s", "min_duration: %s is negative", vm.MinDuration)
				minOK = false
			}
		}},
	})
	if vm.Mode == VoicemailDialplan && !hasContext {
		b.fail(modeNode, "add context: callmon-voicemail, the dialplan context that runs VoiceMail()", "voicemail is missing \"context\", which mode dialplan needs")
	}
	if maxOK && minOK && vm.MinDuration >= vm.MaxDuration {
		at, key := minNode, "min_duration"
		if minNode == nil {
			at, key = maxNode, "max_duration"
		}
		b.fail(at, "messages shorter than min_duration are discarded; keep it a second or two", "%s: min_duration %s is not shorter than max_duration %s", key, vm.MinDuration, vm.MaxDuration)
	}
}

// checkNumbers reports a number listed twice: by queues, employees, or both.
// The later line is reported.
func (b *builder) checkNumbers() {
	type owned struct {
		numRef
		what, name string
	}
	var all []owned
	for i, q := range b.cfg.Queues {
		for _, n := range b.queueNums[i] {
			all = append(all, owned{n, "queue", q.Name})
		}
	}
	for i, e := range b.cfg.Employees {
		for _, n := range b.employeeNums[i] {
			all = append(all, owned{n, "employee", e.ID})
		}
	}
	slices.SortStableFunc(all, func(x, y owned) int { return x.node.Line - y.node.Line })
	seen := map[string]owned{}
	for _, n := range all {
		first, dup := seen[n.number]
		if !dup {
			seen[n.number] = n
			continue
		}
		hint := fmt.Sprintf("it is already listed on line %d; a number routes to one queue", first.node.Line)
		if n.what != "queue" || first.what != "queue" {
			hint += " or one employee"
		}
		owner := first.what
		if first.name != "" {
			owner += fmt.Sprintf(" %q", first.name)
		} else {
			owner += fmt.Sprintf(" on line %d", first.node.Line)
		}
		b.fail(n.node, hint, "numbers: %s is already a number of %s", n.number, owner)
	}
}

// checkEmployees reports duplicate employee ids and mailboxes, and agents
// that do not exist or belong to two employees. agentIDs are the valid
// agents' ids (with their nodes), idList the same in file order.
func (b *builder) checkEmployees(agentIDs map[string]*yaml.Node, idList []string) {
	ids := map[string]*yaml.Node{}
	agentOf := map[string]int{} // agent id → index of the employee
	mailboxes := map[string]*yaml.Node{}
	for i, e := range b.cfg.Employees {
		dupID := false
		if node := b.employeeIDs[i]; node != nil {
			if first, dup := ids[e.ID]; dup {
				b.fail(node, fmt.Sprintf("the first is on line %d; employee ids must be unique", first.Line), "id: employee %q is defined twice", e.ID)
				dupID = true
			} else {
				ids[e.ID] = node
			}
		}
		if node := b.employeeAgents[i]; node != nil {
			switch {
			case agentIDs[e.Agent] == nil:
				if b.anyIDs[e.Agent] || b.agentsBroken {
					break // reported under agents:
				}
				hint := fmt.Sprintf("define it under agents: with id: %s, or remove the line", e.Agent)
				if s := suggest(e.Agent, idList); s != "" {
					hint = fmt.Sprintf("did you mean %q?", s)
				}
				b.fail(node, hint, "agent: agent %q is not defined", e.Agent)
			default:
				if j, dup := agentOf[e.Agent]; dup {
					b.fail(node, fmt.Sprintf("one person is one employee, with several numbers if need be (line %d)", b.employeeAgents[j].Line),
						"agent: agent %q is already employee %q", e.Agent, b.cfg.Employees[j].ID)
				} else {
					agentOf[e.Agent] = i
				}
			}
		}
		at := b.mailboxes[i]
		if at == nil && !dupID {
			at = b.employeeIDs[i] // the default mailbox comes from the id
		}
		if at != nil && e.Mailbox != "" {
			if first, dup := mailboxes[e.Mailbox]; dup {
				b.fail(at, fmt.Sprintf("it is already the mailbox on line %d; each employee needs their own", first.Line), "mailbox: %s is used by two employees", e.Mailbox)
			} else {
				mailboxes[e.Mailbox] = at
			}
		}
	}
}
