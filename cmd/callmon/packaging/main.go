// Command packaging builds callmon's Debian package: it compiles the binary
// and hands it, with the files nfpm.yaml lists (systemd unit, configuration,
// Grafana dashboard, Prometheus rules, Asterisk snippets), to nfpm.
//
//	go run ./cmd/callmon/packaging [--version 1.2.0] [--arch amd64] [--out dist]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the "deb" packager
)

// options say what to build; the zero values of Version and Binary mean
// "from git" and "compile it".
type options struct {
	Root    string // repository root (holds go.mod)
	Version string // Debian version, e.g. 1.2.0 or 0.0~git20261205.6617ac8
	Arch    string // Go and Debian architecture name (amd64, arm64)
	OutDir  string
	Binary  string // a callmon binary already built for Arch
}

func main() {
	var o options
	flag.StringVar(&o.Version, "version", "", "package version (default: from git: the v* tag, else 0.0~git<date>.<commit>)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "target architecture (amd64, arm64, ...)")
	flag.StringVar(&o.OutDir, "out", "dist", "directory for the .deb")
	flag.StringVar(&o.Binary, "binary", "", "use this callmon binary instead of compiling one")
	flag.Parse()
	root, err := repoRoot()
	if err == nil {
		o.Root = root
		var path string
		path, err = build(o)
		if err == nil {
			fmt.Println(path)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "packaging:", err)
	os.Exit(1)
}

// repoRoot is the directory of callmon's go.mod, found from the working
// directory upwards, so the program runs from anywhere inside the checkout.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module callmon\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the callmon repository (no go.mod with module callmon above the working directory)")
		}
		dir = parent
	}
}

// debVersion is what dpkg accepts as an upstream version without epoch.
var debVersion = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~-]*$`)

// build writes the .deb into o.OutDir and returns its path.
func build(o options) (string, error) {
	if o.Version == "" {
		v, err := gitVersion(o.Root)
		if err != nil {
			return "", fmt.Errorf("%w; give --version", err)
		}
		o.Version = v
	}
	if !debVersion.MatchString(o.Version) {
		return "", fmt.Errorf("version %q: a Debian version starts with a digit and holds only letters, digits and . + ~ -", o.Version)
	}
	outDir, err := filepath.Abs(o.OutDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	if o.Binary == "" {
		tmp, err := os.MkdirTemp("", "callmon-packaging-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		o.Binary = filepath.Join(tmp, "callmon")
		if err := compile(o); err != nil {
			return "", err
		}
	}
	binary, err := filepath.Abs(o.Binary)
	if err != nil {
		return "", err
	}

	vars := map[string]string{"VERSION": o.Version, "ARCH": o.Arch, "BINARY": binary}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join(o.Root, "cmd/callmon/packaging/nfpm.yaml"),
		func(name string) string { return vars[name] })
	if err != nil {
		return "", fmt.Errorf("nfpm.yaml: %w", err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", err
	}
	// nfpm resolves the sources relative to the working directory.
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	if err := os.Chdir(o.Root); err != nil {
		return "", err
	}
	defer os.Chdir(wd)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("nfpm: %w", err)
	}
	pkgr, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	out := filepath.Join(outDir, pkgr.ConventionalFileName(info))
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return "", fmt.Errorf("nfpm: %w", err)
	}
	return out, f.Close()
}

// compile builds a static callmon for o.Arch with the version in it.
func compile(o options) error {
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+o.Version,
		"-o", o.Binary, "./cmd/callmon")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/callmon: %w", err)
	}
	return nil
}

// gitVersion is the latest v* tag without its "v" (v1.2.0-3-gabc → 1.2.0+3.gabc),
// or, with no tag, 0.0~git<commit date>.<short commit>, which sorts by date.
func gitVersion(root string) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	if tag, err := git("describe", "--tags", "--match", "v[0-9]*"); err == nil {
		v := strings.TrimPrefix(tag, "v")
		if i := strings.Index(v, "-"); i >= 0 { // n commits after the tag
			v = v[:i] + "+" + strings.ReplaceAll(v[i+1:], "-", ".")
		}
		return v, nil
	}
	v, err := git("log", "-1", "--date=format:%Y%m%d%H%M", "--format=%cd.%h")
	if err != nil || v == "" {
		return "", errors.New("no version from git")
	}
	return "0.0~git" + v, nil
}
