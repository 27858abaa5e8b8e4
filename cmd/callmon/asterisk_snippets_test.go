package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"callmon/cmd/callmon/config"
)

// The Asterisk configuration shipped in docs/asterisk (and in the package's
// /usr/share/doc/callmon/asterisk) agrees with what callmon.example.yml makes
// callmon expect, so the two cannot drift apart.
func TestAsteriskSnippetsMatchExampleConfig(t *testing.T) {
	cfg, err := config.Load("../../callmon.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	files := readSnippets(t)
	for _, err := range checkSnippets(cfg, files) {
		t.Error(err)
	}
}

// The check finds each kind of drift it is there for.
func TestAsteriskSnippetsCheckFindsDrift(t *testing.T) {
	cfg, err := config.Load("../../callmon.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, old, new, want string
	}{
		{"app name", "extensions.conf", "Stasis(callmon,queue,general)", "Stasis(callcentre,queue,general)", `0503164911 runs "Stasis(callcentre,queue,general)"`},
		{"queue name", "extensions.conf", "Stasis(callmon,queue,permits)", "Stasis(callmon,queue,permit)", "0503164922 runs"},
		{"no fallback", "extensions.conf", " same => n,Goto(callmon-fallback,s,1)\n", "", "has no Goto(callmon-fallback,s,1)"},
		{"direct pattern", "extensions.conf", "_050316XXXX", "_050317XXXX", "employee erik's number 0503161234"},
		{"voicemail context", "extensions.conf", "[callmon-voicemail]", "[voicemail]", "voicemail.context callmon-voicemail"},
		{"voicemail pattern", "extensions.conf", "_[0-9a-zA-Z].", "_.", "matches the special extension"},
		{"ari user", "ari.conf", "[callmon]", "[asterisk]", "ari.conf has no user [callmon]"},
		{"read only", "ari.conf", "read_only = no", "read_only = yes", "read_only"},
		{"port", "http.conf", "bindport = 8088", "bindport = 8089", "bindport 8089"},
		{"session limit", "http.conf", "sessionlimit = 500", "sessionlimit = 100", "sessionlimit"},
		{"mailboxes", "modules.conf", "require => res_ari_mailboxes.so", "", "res_ari_mailboxes.so"},
		{"app_voicemail", "modules.conf", "noload => app_voicemail.so", "", "app_voicemail.so"},
		{"fallback agents", "queues.conf", "member => PJSIP/1003", "", "PJSIP/1003"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := readSnippets(t)
			if !bytes.Contains(files[c.file], []byte(c.old)) {
				t.Fatalf("%s has no %q to change", c.file, c.old)
			}
			files[c.file] = bytes.Replace(files[c.file], []byte(c.old), []byte(c.new), 1)
			errs := checkSnippets(cfg, files)
			for _, err := range errs {
				if strings.Contains(err.Error(), c.want) {
					return
				}
			}
			t.Errorf("after %q → %q in %s: no error mentioning %q; got %v", c.old, c.new, c.file, c.want, errs)
		})
	}
}

func readSnippets(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{"http.conf", "ari.conf", "extensions.conf", "modules.conf", "queues.conf", "voicemail.conf"} {
		data, err := os.ReadFile(filepath.Join("../../docs/asterisk", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	return files
}

// confSection is one [section] of an Asterisk .conf file: its key/value
// lines in order (both "=" and "=>"), comments removed.
type confSection struct {
	name string
	kv   [][2]string
}

func (s *confSection) get(key string) (string, bool) {
	for _, kv := range s.kv {
		if kv[0] == key {
			return kv[1], true
		}
	}
	return "", false
}

func (s *confSection) all(key string) []string {
	var vs []string
	for _, kv := range s.kv {
		if kv[0] == key {
			vs = append(vs, kv[1])
		}
	}
	return vs
}

func parseConf(data []byte) map[string]*confSection {
	sections := map[string]*confSection{}
	var cur *confSection
	for line := range strings.SplitSeq(string(data), "\n") {
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			cur = &confSection{name: line[1 : len(line)-1]}
			sections[cur.name] = cur
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || cur == nil {
			continue
		}
		cur.kv = append(cur.kv, [2]string{strings.TrimSpace(k), strings.TrimSpace(strings.TrimPrefix(v, ">"))})
	}
	return sections
}

// dialplan is extensions.conf: context → extension → its applications by
// priority (exten => X,1,App then same => n,App).
type dialplan map[string]map[string][]string

func parseDialplan(data []byte) dialplan {
	d := dialplan{}
	for name, s := range parseConf(data) {
		ctx := map[string][]string{}
		var cur string
		for _, kv := range s.kv {
			switch kv[0] {
			case "exten":
				parts := strings.SplitN(kv[1], ",", 3)
				if len(parts) == 3 {
					cur = parts[0]
					ctx[cur] = []string{parts[2]}
				}
			case "same":
				if _, app, ok := strings.Cut(kv[1], ","); ok && cur != "" {
					ctx[cur] = append(ctx[cur], app)
				}
			}
		}
		d[name] = ctx
	}
	return d
}

// route finds the extension Asterisk runs for number in context: an exact
// extension first, else the one pattern that matches (two would make the
// order of the file matter, which this check does not model).
func (d dialplan) route(context, number string) (string, []string, error) {
	ctx, ok := d[context]
	if !ok {
		return "", nil, fmt.Errorf("extensions.conf has no context [%s]", context)
	}
	if apps, ok := ctx[number]; ok {
		return number, apps, nil
	}
	var found []string
	for exten := range ctx {
		if strings.HasPrefix(exten, "_") && asteriskMatch(exten, number) {
			found = append(found, exten)
		}
	}
	switch len(found) {
	case 0:
		return "", nil, fmt.Errorf("no extension in [%s] matches %s", context, number)
	case 1:
		return found[0], ctx[found[0]], nil
	}
	slices.Sort(found)
	return "", nil, fmt.Errorf("%s matches several patterns in [%s]: %v", number, context, found)
}

const fallbackGoto = "Goto(callmon-fallback,s,1)"

// checkSnippets lists every way the Asterisk files disagree with cfg.
func checkSnippets(cfg *config.Config, files map[string][]byte) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// http.conf: ARI's HTTP server where ari.url points, with room for
	// callmon's 64 REST connections, its websocket and other clients.
	u, err := url.Parse(cfg.ARI.URL)
	if err != nil {
		return []error{err}
	}
	httpConf := parseConf(files["http.conf"])["general"]
	if httpConf == nil {
		fail("http.conf has no [general]")
	} else {
		if v, _ := httpConf.get("enabled"); v != "yes" {
			fail("http.conf: enabled = %q, want yes", v)
		}
		if v, _ := httpConf.get("bindport"); v != u.Port() {
			fail("http.conf: bindport %s, but ari.url %s uses port %s", v, cfg.ARI.URL, u.Port())
		}
		if v, _ := httpConf.get("bindaddr"); v != u.Hostname() {
			fail("http.conf: bindaddr %s, but ari.url %s uses host %s", v, cfg.ARI.URL, u.Hostname())
		}
		if v, _ := httpConf.get("sessionlimit"); atoi(v) < 200 {
			fail("http.conf: sessionlimit %q; callmon alone may hold 65 sessions, raise it (README)", v)
		}
		if v, ok := httpConf.get("session_keep_alive"); ok && atoi(v) < 15000 {
			fail("http.conf: session_keep_alive %s ms is below callmon's idle timeout margin (15000)", v)
		}
	}

	// ari.conf: the user callmon logs in as, allowed to send commands.
	ariConf := parseConf(files["ari.conf"])
	if g := ariConf["general"]; g == nil {
		fail("ari.conf has no [general]")
	} else if v, _ := g.get("enabled"); v != "yes" {
		fail("ari.conf: enabled = %q, want yes", v)
	}
	if user := ariConf[cfg.ARI.User]; user == nil {
		fail("ari.conf has no user [%s] (callmon.yml ari.user)", cfg.ARI.User)
	} else {
		if v, _ := user.get("type"); v != "user" {
			fail("ari.conf [%s]: type = %q, want user", cfg.ARI.User, v)
		}
		if v, _ := user.get("read_only"); v != "no" {
			fail("ari.conf [%s]: read_only = %q; callmon sends commands, want no", cfg.ARI.User, v)
		}
	}

	// extensions.conf: each queue number and direct number reaches
	// Stasis() with the arguments callmon routes by, then the fallback.
	d := parseDialplan(files["extensions.conf"])
	checkRoute := func(who, number, want string) {
		exten, apps, err := d.route("from-pstn", number)
		if err != nil {
			fail("%s %s: %v", who, number, err)
			return
		}
		if apps[0] != want {
			fail("%s: %s runs %q, want %q", who, number, apps[0], want)
		}
		if len(apps) < 2 || apps[1] != fallbackGoto {
			fail("%s: extension %s has no %s after Stasis()", who, exten, fallbackGoto)
		}
	}
	for _, q := range cfg.Queues {
		for _, n := range q.Numbers {
			checkRoute("queue "+q.Name, n, fmt.Sprintf("Stasis(%s,queue,%s)", cfg.ARI.Application, q.Name))
		}
	}
	for _, e := range cfg.Employees {
		for _, n := range e.Numbers {
			checkRoute("employee "+e.ID+"'s number", n, fmt.Sprintf("Stasis(%s,direct,${EXTEN})", cfg.ARI.Application))
		}
	}
	fallback := d["callmon-fallback"]["s"]
	if len(fallback) == 0 {
		fail("extensions.conf has no [callmon-fallback] extension s")
	}
	sections := map[string]map[string]*confSection{
		"queues.conf":    parseConf(files["queues.conf"]),
		"voicemail.conf": parseConf(files["voicemail.conf"]),
	}
	for _, app := range fallback {
		if name, ok := strings.CutPrefix(app, "Queue("); ok {
			name, _, _ = strings.Cut(name, ",")
			if sections["queues.conf"][name] == nil {
				fail("[callmon-fallback] rings queue %s, which queues.conf does not define", name)
			}
		}
		if box, ok := strings.CutPrefix(app, "VoiceMail("); ok {
			box, _, _ = strings.Cut(box, ",")
			user, ctx, _ := strings.Cut(box, "@")
			if s := sections["voicemail.conf"][ctx]; s == nil || len(s.all(user)) == 0 {
				fail("[callmon-fallback] leaves messages in %s, which voicemail.conf does not define", box)
			}
		}
	}
	// While callmon is away, app_queue rings the agents of queue general.
	if fq := sections["queues.conf"]["general-fallback"]; fq != nil {
		members := fq.all("member")
		for _, q := range cfg.Queues {
			if q.Name != "general" {
				continue
			}
			for _, id := range q.Agents {
				for _, a := range cfg.Agents {
					if a.ID == id && !slices.Contains(members, a.Endpoint) {
						fail("queues.conf [general-fallback] lacks member %s (agent %s of queue general)", a.Endpoint, id)
					}
				}
			}
		}
	}

	// The voicemail context (mode dialplan): callmon continues the caller
	// to <mailbox user>; the pattern must take every such user and none of
	// the extensions Asterisk runs by itself.
	if ctx := cfg.Voicemail.Context; ctx != "" {
		if _, ok := d[ctx]; !ok {
			fail("voicemail.context %s: extensions.conf has no such context", ctx)
		}
		for _, e := range cfg.Employees {
			user, _, _ := strings.Cut(e.Mailbox, "@")
			exten, apps, err := d.route(ctx, user)
			if err != nil {
				fail("voicemail.context %s: employee %s: %v", ctx, e.ID, err)
				continue
			}
			if !strings.HasPrefix(apps[0], "VoiceMail(${EXTEN}@") {
				fail("[%s] %s runs %q, want VoiceMail(${EXTEN}@...)", ctx, exten, apps[0])
			}
			vmCtx, _, _ := strings.Cut(strings.TrimPrefix(apps[0], "VoiceMail(${EXTEN}@"), ",")
			if s := sections["voicemail.conf"][vmCtx]; s == nil || len(s.all(user)) == 0 {
				fail("voicemail.conf [%s] has no mailbox %s (employee %s)", vmCtx, user, e.ID)
			}
		}
		for _, special := range []string{"h", "i", "t", "T", "s", "o", "a", "e"} {
			for exten := range d[ctx] {
				if asteriskMatch(exten, special) {
					fail("[%s] %s matches the special extension %q", ctx, exten, special)
				}
			}
		}
	}

	// modules.conf: ARI, and for voicemail.mode ari the mailboxes resource
	// with app_voicemail kept out.
	mods := parseConf(files["modules.conf"])["modules"]
	if mods == nil {
		return append(errs, fmt.Errorf("modules.conf has no [modules]"))
	}
	loaded := append(mods.all("require"), mods.all("load")...)
	want := []string{"res_http_websocket.so", "res_stasis.so", "res_ari.so", "app_stasis.so",
		"res_ari_applications.so", "res_ari_channels.so", "res_ari_bridges.so", "res_ari_events.so",
		"res_ari_endpoints.so", "res_ari_playbacks.so", "res_ari_recordings.so", "app_queue.so", "func_module.so"}
	if cfg.Voicemail.Mode == config.VoicemailARI {
		want = append(want, "res_mwi_external.so", "res_stasis_mailbox.so", "res_ari_mailboxes.so")
		if !slices.Contains(mods.all("noload"), "app_voicemail.so") {
			fail("modules.conf: voicemail.mode ari needs noload => app_voicemail.so (it cannot load beside res_mwi_external)")
		}
	}
	for _, m := range want {
		if !slices.Contains(loaded, m) {
			fail("modules.conf does not load %s", m)
		}
	}
	return errs
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
