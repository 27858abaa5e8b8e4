// Package prompts lists every sound callmon makes Asterisk play, with its Dutch and English
// text, and generates a placeholder set of them with espeak-ng and sox until a site records
// its own: callmon's prompts, the Asterisk core sounds it uses (greeting, beep, goodbye, days)
// and the digits/ files Asterisk's Dutch number syntax needs. Debian ships Asterisk's core
// sounds in en, es, fr, it and ru only, so a Dutch site has none of them.
//
// A sound named "callmon/callback-offer" is played as media "sound:callmon/callback-offer";
// Asterisk looks for it as <sounds dir>/<channel language>/callmon/callback-offer.<format>.
package prompts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
)

// Prompt is one sound callmon plays.
type Prompt struct {
	Name string // path under the language directory, without extension
	NL   string // what it says in Dutch
	EN   string // and in English
	Use  string // where callmon plays it
	Tone bool   // a tone (the recording beep), not speech
}

// Announcement and callback-dialogue prompts by name, for the call flows.
const (
	YouAreNumber    = "callmon/you-are-number"
	InLine          = "callmon/in-line"
	ExpectedWait    = "callmon/expected-wait"
	Minute          = "callmon/minute"
	Minutes         = "callmon/minutes"
	LessThanAMinute = "callmon/less-than-a-minute"
)

var own = []Prompt{
	{Name: "callmon/callback-offer", NL: "Wilt u liever teruggebeld worden? Druk dan op 1.", EN: "Would you rather be called back? Then press 1.", Use: "callback offer while waiting"},
	{Name: "callmon/enter-number", NL: "Toets uw telefoonnummer in, gevolgd door een hekje.", EN: "Please enter your phone number, followed by the hash key.", Use: "callback dialogue, caller ID withheld or not Dutch"},
	{Name: "callmon/invalid-number", NL: "Dat is geen geldig telefoonnummer.", EN: "That is not a valid phone number.", Use: "callback dialogue"},
	{Name: "callmon/back-to-queue", NL: "U bent weer in de wachtrij.", EN: "You are back in the queue.", Use: "callback dialogue, no slot chosen"},
	{Name: "callmon/press-1-for", NL: "Druk op 1 voor", EN: "Press 1 for", Use: "callback dialogue, first slot"},
	{Name: "callmon/press-2-for", NL: "Druk op 2 voor", EN: "Press 2 for", Use: "callback dialogue, second slot"},
	{Name: "callmon/callback-confirmed", NL: "Wij bellen u terug op", EN: "We will call you back on", Use: "callback dialogue, before the agreed time"},
	{Name: "callmon/callback-not-available", NL: "Het is nu niet mogelijk een terugbelafspraak te maken.", EN: "We cannot schedule a callback right now.", Use: "callback dialogue, nothing free or storage down"},
	{Name: "callmon/callback-task", NL: "Dit is een terugbelverzoek. De klant wordt nu gebeld.", EN: "This is a callback. The customer is being called now.", Use: "to the agent, automatic callback"},
	{Name: "callmon/number-not-in-use", NL: "Dit nummer is niet in gebruik. U wordt doorverbonden met de algemene wachtrij.", EN: "This number is not in use. You are being put through to the general queue.", Use: "direct dial to a number nobody has"},
	{Name: YouAreNumber, NL: "U bent nummer", EN: "You are number", Use: "announcement: position"},
	{Name: InLine, NL: "in de wachtrij.", EN: "in the queue.", Use: "announcement: position"},
	{Name: ExpectedWait, NL: "De verwachte wachttijd is ongeveer", EN: "The expected waiting time is about", Use: "announcement: expected wait"},
	{Name: Minute, NL: "minuut.", EN: "minute.", Use: "announcement: expected wait of one minute"},
	{Name: Minutes, NL: "minuten.", EN: "minutes.", Use: "announcement: expected wait"},
	{Name: LessThanAMinute, NL: "De verwachte wachttijd is minder dan een minuut.", EN: "The expected waiting time is less than a minute.", Use: "announcement: expected wait"},
	{Name: "custom/welcome", NL: "Welkom. U wordt zo spoedig mogelijk geholpen.", EN: "Welcome. You will be helped as soon as possible.", Use: "queue welcome_prompt (the configuration's example)"},
	{Name: "custom/closed", NL: "U belt buiten onze openingstijden.", EN: "You are calling outside our opening hours.", Use: "queue closed_prompt (default)"},
}

// core are the Asterisk core sounds callmon plays by name.
var core = []Prompt{
	{Name: "vm-intro", NL: "Spreek uw bericht in na de toon. Druk op hekje als u klaar bent.", EN: "Please leave your message after the tone. When done, press the hash key.", Use: "voicemail, default greeting"},
	{Name: "beep", Tone: true, Use: "voicemail, before recording (Asterisk's record beep)"},
	{Name: "vm-goodbye", NL: "Tot ziens.", EN: "Goodbye.", Use: "end of the callback dialogue"},
	{Name: "digits/today", NL: "vandaag", EN: "today", Use: "callback time read back"},
	{Name: "digits/tomorrow", NL: "morgen", EN: "tomorrow", Use: "callback time read back"},
	{Name: "digits/oclock", NL: "uur", EN: "o'clock", Use: "callback time read back, on the hour"},
}

var (
	daysNL = []string{"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"}
	daysEN = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	unitNL = []string{"nul", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen", "tien",
		"elf", "twaalf", "dertien", "veertien", "vijftien", "zestien", "zeventien", "achttien", "negentien"}
	unitEN = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
		"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
	tensNL = []string{"twintig", "dertig", "veertig", "vijftig", "zestig", "zeventig", "tachtig", "negentig"}
	tensEN = []string{"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
)

// All is every prompt callmon plays, in a fixed order: its own, the core sounds, the days,
// and the digits.
func All() []Prompt {
	out := append(append([]Prompt(nil), own...), core...)
	for d := range daysNL {
		out = append(out, Prompt{Name: fmt.Sprintf("digits/day-%d", d), NL: daysNL[d], EN: daysEN[d], Use: "callback time read back"})
	}
	digit := func(n int, nl, en string) Prompt {
		return Prompt{Name: "digits/" + strconv.Itoa(n), NL: nl, EN: en, Use: "numbers (number:N)"}
	}
	for n := range unitNL {
		out = append(out, digit(n, unitNL[n], unitEN[n]))
	}
	for i := range tensNL {
		out = append(out, digit(20+10*i, tensNL[i], tensEN[i]))
	}
	return append(out,
		Prompt{Name: "digits/nl-en", NL: "en", EN: "and", Use: "numbers: the 'en' of eenentwintig"},
		Prompt{Name: "digits/hundred", NL: "honderd", EN: "hundred", Use: "numbers"},
		Prompt{Name: "digits/thousand", NL: "duizend", EN: "thousand", Use: "numbers"},
		Prompt{Name: "digits/million", NL: "miljoen", EN: "million", Use: "numbers"},
		Prompt{Name: "digits/minus", NL: "min", EN: "minus", Use: "numbers"})
}

// NumberFiles is the digits/ files Asterisk plays for "number:n" on a Dutch channel (its
// ast_say_number_full_nl: units before tens joined by "en", "honderd" and "duizend" without
// "een" before them), for n from 0 to 999,999.
func NumberFiles(n int) []string {
	d := func(k int) string { return "digits/" + strconv.Itoa(k) }
	switch {
	case n < 0:
		return append([]string{"digits/minus"}, NumberFiles(-n)...)
	case n < 20:
		return []string{d(n)}
	case n < 100:
		if n%10 == 0 {
			return []string{d(n)}
		}
		return []string{d(n % 10), "digits/nl-en", d(n - n%10)}
	case n < 200:
		return append([]string{"digits/hundred"}, tail(n%100)...)
	case n < 1000:
		return append([]string{d(n / 100), "digits/hundred"}, tail(n%100)...)
	case n < 1100:
		return append([]string{"digits/thousand"}, tail(n%1000)...)
	case n < 10000:
		return append(append(NumberFiles(n/100), "digits/hundred"), tail(n%100)...)
	default:
		return append(append(NumberFiles(n/1000), "digits/thousand"), tail(n%1000)...)
	}
}

func tail(n int) []string {
	if n == 0 {
		return nil
	}
	return NumberFiles(n)
}

// Languages are those the generator speaks: espeak-ng's voice for each.
var Languages = map[string]string{"nl": "nl", "en": "en-gb"}

// Runner runs a program; tests and the command line pass exec's.
type Runner func(ctx context.Context, name string, args ...string) error

// Exec runs a program, its output in the error when it fails.
func Exec(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// ErrTools is returned when espeak-ng or sox is not installed.
var ErrTools = errors.New("prompts: espeak-ng and sox are needed (apt-get install espeak-ng sox)")

// Generate writes every prompt in lang as dir/<lang>/<name>.wav, 8 kHz 16-bit mono PCM (what
// Asterisk plays as format "wav"), spoken by espeak-ng and converted by sox; the beep is a
// 1 kHz tone of a quarter second. Files already there are replaced.
func Generate(ctx context.Context, dir, lang string, run Runner) (int, error) {
	voice, ok := Languages[lang]
	if !ok {
		return 0, fmt.Errorf("prompts: no voice for language %q (have nl, en)", lang)
	}
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			return 0, ErrTools
		}
	}
	tmp, err := os.MkdirTemp("", "callmon-prompts-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	n := 0
	for _, p := range All() {
		out := filepath.Join(dir, lang, filepath.FromSlash(p.Name)+".wav")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return n, err
		}
		conv := []string{"-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", out}
		if p.Tone {
			err = run(ctx, "sox", append([]string{"-n"}, append(conv, "synth", "0.25", "sine", "1000", "vol", "0.5")...)...)
		} else {
			text := p.NL
			if lang == "en" {
				text = p.EN
			}
			raw := filepath.Join(tmp, "speech.wav")
			if err = run(ctx, "espeak-ng", "-v", voice, "-s", "150", "-w", raw, text); err == nil {
				err = run(ctx, "sox", append([]string{raw}, conv...)...)
			}
		}
		if err != nil {
			return n, fmt.Errorf("prompts: %s: %w", p.Name, err)
		}
		n++
	}
	return n, nil
}

// Formats Asterisk plays that a site may have recorded its prompts in.
var Formats = []string{"wav", "wav16", "gsm", "ulaw", "alaw", "sln", "sln16", "g722", "g729", "ogg"}

// Missing lists the prompts with no file in any of Formats under dir/<lang>/.
func Missing(dir, lang string) []string {
	var out []string
	for _, p := range All() {
		base := filepath.Join(dir, lang, filepath.FromSlash(p.Name))
		if !slices.ContainsFunc(Formats, func(f string) bool {
			_, err := os.Stat(base + "." + f)
			return err == nil
		}) {
			out = append(out, p.Name)
		}
	}
	return out
}
