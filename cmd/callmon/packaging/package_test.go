package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// claimedExposure is what README says `systemd-analyze security` gives the
// unit; TestUnitExposure keeps the two equal.
const claimedExposure = "1.1"

// Two versions of the package, built once from one binary: the second is
// the upgrade.
var (
	debDir     string
	debV1      string
	debV2      string
	debErr     error
	repoRootAt string
)

const v1, v2 = "1.0.0", "1.0.1"

func TestMain(m *testing.M) {
	code := m.Run()
	if debDir != "" {
		os.RemoveAll(debDir)
	}
	os.Exit(code)
}

// debs builds the packages on first use (compiling callmon takes a while).
func debs(t *testing.T) (string, string) {
	t.Helper()
	if debV1 == "" && debErr == nil {
		debErr = func() error {
			root, err := repoRoot()
			if err != nil {
				return err
			}
			repoRootAt = root
			if debDir, err = os.MkdirTemp("", "callmon-deb-test-"); err != nil {
				return err
			}
			o := options{Root: root, Arch: "amd64", OutDir: debDir, Version: v1, Binary: filepath.Join(debDir, "callmon")}
			if err := compile(o); err != nil {
				return err
			}
			if debV1, err = build(o); err != nil {
				return err
			}
			o.Version = v2
			debV2, err = build(o)
			return err
		}()
	}
	if debErr != nil {
		t.Fatalf("building the packages: %v", debErr)
	}
	return debV1, debV2
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The package holds exactly the files it should, with their modes, and
// those files are the repository's.
func TestPackageContents(t *testing.T) {
	deb, _ := debs(t)

	want := map[string]string{
		"/usr/bin/callmon":                                                "-rwxr-xr-x root/root",
		"/usr/lib/systemd/system/callmon.service":                         "-rw-r--r-- root/root",
		"/etc/callmon/callmon.yml":                                        "-rw-r----- root/root",
		"/etc/callmon/callmon.env":                                        "-rw------- root/root",
		"/usr/share/doc/callmon/README.md":                                "-rw-r--r-- root/root",
		"/usr/share/doc/callmon/callmon.example.yml":                      "-rw-r--r-- root/root",
		"/usr/share/callmon/grafana/dashboards/callmon.json":              "-rw-r--r-- root/root",
		"/usr/share/callmon/grafana/provisioning/datasources/callmon.yml": "-rw-r--r-- root/root",
		"/usr/share/callmon/grafana/provisioning/dashboards/callmon.yml":  "-rw-r--r-- root/root",
		"/usr/share/callmon/prometheus/callmon.rules.yml":                 "-rw-r--r-- root/root",
		"/usr/share/callmon/prometheus/callmon.rules.test.yml":            "-rw-r--r-- root/root",
	}
	// Every Asterisk snippet in the repository ships.
	snippets, err := filepath.Glob(filepath.Join(repoRootAt, "docs/asterisk/*.conf"))
	if err != nil || len(snippets) < 6 {
		t.Fatalf("docs/asterisk: %v %v", snippets, err)
	}
	for _, s := range snippets {
		want["/usr/share/doc/callmon/asterisk/"+filepath.Base(s)] = "-rw-r--r-- root/root"
	}

	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(run(t, "dpkg-deb", "--contents", deb)))
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // mode owner/group size date time path
		if len(f) != 6 {
			t.Fatalf("dpkg-deb --contents line %q", sc.Text())
		}
		path := strings.TrimPrefix(f[5], ".")
		if strings.HasPrefix(f[0], "d") {
			if f[0] != "drwxr-xr-x" || f[1] != "root/root" {
				t.Errorf("directory %s is %s %s, want drwxr-xr-x root/root", path, f[0], f[1])
			}
			continue
		}
		got[path] = f[0] + " " + f[1]
	}
	for path, mode := range want {
		if got[path] != mode {
			t.Errorf("%s: %q, want %q", path, got[path], mode)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("unexpected file in the package: %s", path)
		}
	}

	// The shipped files are the repository's.
	x := t.TempDir()
	run(t, "dpkg-deb", "--extract", deb, x)
	for dst, src := range map[string]string{
		"usr/lib/systemd/system/callmon.service":            "cmd/callmon/packaging/callmon.service",
		"etc/callmon/callmon.yml":                           "callmon.example.yml",
		"etc/callmon/callmon.env":                           "cmd/callmon/packaging/callmon.env",
		"usr/share/doc/callmon/asterisk/extensions.conf":    "docs/asterisk/extensions.conf",
		"usr/share/callmon/prometheus/callmon.rules.yml":    "grafana/rules/callmon.rules.yml",
		"usr/share/callmon/grafana/dashboards/callmon.json": "grafana/dashboards/callmon.json",
	} {
		a, err1 := os.ReadFile(filepath.Join(x, dst))
		b, err2 := os.ReadFile(filepath.Join(repoRootAt, src))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("/%s differs from %s (%v, %v)", dst, src, err1, err2)
		}
	}
	if out := run(t, filepath.Join(x, "usr/bin/callmon"), "version"); !strings.Contains(out, v1) {
		t.Errorf("callmon version: %q, want it to name %s", out, v1)
	}

	// Control: conffiles, maintainer scripts, fields.
	ctrl := t.TempDir()
	run(t, "dpkg-deb", "--control", deb, ctrl)
	conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	gotConf := strings.Fields(string(conffiles))
	slices.Sort(gotConf)
	if wantConf := []string{"/etc/callmon/callmon.env", "/etc/callmon/callmon.yml"}; !slices.Equal(gotConf, wantConf) {
		t.Errorf("conffiles %v, want %v", gotConf, wantConf)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		fi, err := os.Stat(filepath.Join(ctrl, s))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("maintainer script %s: %v %v, want mode 0755", s, fi, err)
		}
	}
	fields := run(t, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Depends")
	for _, f := range []string{"Package: callmon", "Version: " + v1, "Architecture: amd64", "Depends: adduser"} {
		if !strings.Contains(fields, f+"\n") {
			t.Errorf("control lacks %q:\n%s", f, fields)
		}
	}
}

// `systemd-analyze security` scores the unit as README claims.
func TestUnitExposure(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is missing: apt-get install systemd (it runs offline, no systemd needs to be running)")
	}
	unit := filepath.Join(root, "cmd/callmon/packaging/callmon.service")
	out, _ := exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for callmon\.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if string(m[1]) != claimedExposure {
		t.Errorf("exposure %s, README claims %s:\n%s", m[1], claimedExposure, out)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if claim := fmt.Sprintf("Overall exposure level for callmon.service: %s %s", m[1], m[2]); !bytes.Contains(readme, []byte(claim)) {
		t.Errorf("README does not quote %q", claim)
	}
}

// The install cycle on this machine, in a throwaway root: an overlay of the
// real root in a private mount namespace, so dpkg, adduser and the
// maintainer scripts run for real and nothing reaches the host.
func TestInstallUpgradeRemovePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: it installs the package with dpkg in an overlay of / inside a private mount namespace (unshare, mount); run as root")
	}
	for _, tool := range []string{"unshare", "dpkg", "adduser", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: %v", tool, err)
		}
	}
	a, b := debs(t)
	dir, err := os.MkdirTemp("", "callmon-root-") // not t.TempDir: may hold root-owned files from the chroot
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"upper/callmon-test", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{a: "v1.deb", b: "v2.deb"} {
		data, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "upper/callmon-test", dst), data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	outer := `set -e
R=$DIR/merged
mount -t overlay overlay -o lowerdir=/,upperdir=$DIR/upper,workdir=$DIR/work $R
mount -t proc proc $R/proc
mount --rbind /dev $R/dev
mount -t tmpfs tmpfs $R/run   # no /run/systemd/system: the scripts skip systemctl
mount -t tmpfs tmpfs $R/tmp
exec chroot $R /bin/sh -c "$INNER"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", outer)
	cmd.Env = append(os.Environ(), "DIR="+dir, "INNER="+installScript, "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install cycle: %v\n%s", err, out)
	}
	facts := map[string]string{}
	for line := range strings.SplitSeq(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "fact.") {
			facts[strings.TrimPrefix(k, "fact.")] = v
		}
	}
	for _, c := range []struct{ fact, want string }{
		{"install-rc", "0"},
		{"user", "callmon:/var/lib/callmon:/usr/sbin/nologin"},
		{"group", "callmon"},
		{"yml", "640 root callmon"},
		{"env", "600 root root"},
		{"unit", "644"},
		{"check-config-rc", "0"},
		{"upgrade-rc", "0"},
		{"upgraded-version", v2},
		{"upgrade-kept-edit", "1"},
		{"upgrade-yml", "640 root callmon"},
		{"remove-rc", "0"},
		{"removed-binary", "absent"},
		{"removed-unit", "absent"},
		{"removed-kept-edit", "1"},
		{"removed-status", "config-files"},
		{"purge-rc", "0"},
		{"purged-etc", "absent"},
		{"purged-state", "absent"},
		{"purged-status", "1"},
		// Debian keeps system users on purge; README says so.
		{"user-after-purge", "callmon"},
	} {
		if got := facts[c.fact]; got != c.want {
			t.Errorf("%s = %q, want %q", c.fact, got, c.want)
		}
	}
	if !strings.Contains(facts["version"], v1) {
		t.Errorf("installed callmon version = %q, want %s", facts["version"], v1)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// installScript runs inside the throwaway root and prints fact.<name>=<value>.
const installScript = `
fact() { echo "fact.$1=$2"; }
dpkg -i /callmon-test/v1.deb; fact install-rc $?
fact user "$(getent passwd callmon | cut -d: -f1,6,7)"
fact group "$(getent group callmon | cut -d: -f1)"
fact yml "$(stat -c '%a %U %G' /etc/callmon/callmon.yml)"
fact env "$(stat -c '%a %U %G' /etc/callmon/callmon.env)"
fact unit "$(stat -c '%a' /usr/lib/systemd/system/callmon.service)"
fact version "$(/usr/bin/callmon version 2>/dev/null)"
# The service user can read the shipped configuration and it is valid.
runuser -u callmon -- /usr/bin/callmon check-config --config.file /etc/callmon/callmon.yml; fact check-config-rc $?

echo '# site edit' >> /etc/callmon/callmon.yml
dpkg -i /callmon-test/v2.deb; fact upgrade-rc $?
fact upgraded-version "$(dpkg-query -W -f='${Version}' callmon)"
fact upgrade-kept-edit "$(grep -c '^# site edit$' /etc/callmon/callmon.yml)"
fact upgrade-yml "$(stat -c '%a %U %G' /etc/callmon/callmon.yml)"

# What a running site adds: the spool (StateDirectory) and a password file.
install -d -o callmon -g callmon -m 0750 /var/lib/callmon
echo '{}' > /var/lib/callmon/spool.jsonl
echo secret > /etc/callmon/ari-password
dpkg -r callmon; fact remove-rc $?
fact removed-binary "$(test -e /usr/bin/callmon && echo present || echo absent)"
fact removed-unit "$(test -e /usr/lib/systemd/system/callmon.service && echo present || echo absent)"
fact removed-kept-edit "$(grep -c '^# site edit$' /etc/callmon/callmon.yml)"
fact removed-status "$(dpkg-query -W -f='${db:Status-Status}' callmon)"

dpkg -P callmon; fact purge-rc $?
fact purged-etc "$(test -e /etc/callmon && echo present || echo absent)"
fact purged-state "$(test -e /var/lib/callmon && echo present || echo absent)"
dpkg -s callmon >/dev/null 2>&1; fact purged-status $?
fact user-after-purge "$(getent passwd callmon | cut -d: -f1)"
`
