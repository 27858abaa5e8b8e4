package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"callmon/prompts"
)

// cmdPrompts lists the sounds callmon plays, generates a placeholder set of them with
// espeak-ng and sox, or checks a sounds directory for the ones missing.
func cmdPrompts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prompts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: callmon prompts list
       callmon prompts generate --dir DIR [--lang nl|en]
       callmon prompts check --dir DIR [--lang nl|en]

list      every sound callmon plays, with its Dutch and English text
generate  speak each with espeak-ng and convert it with sox to DIR/<lang>/<name>.wav
          (8 kHz 16-bit mono, as Asterisk plays it); copy DIR/<lang> into Asterisk's
          sounds directory (Debian: /usr/share/asterisk/sounds/)
check     list the sounds with no file in DIR/<lang>/ (any format Asterisk plays)

`)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "", "sounds directory (generate: where to write; check: where to look)")
	lang := fs.String("lang", "nl", "language: nl or en")
	if len(args) == 0 {
		fs.Usage()
		return usageError{errors.New("give list, generate or check")}
	}
	sub := args[0]
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if _, ok := prompts.Languages[*lang]; !ok {
		return usageError{fmt.Errorf("--lang %q: give nl or en", *lang)}
	}
	switch sub {
	case "list":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tDUTCH\tENGLISH\tPLAYED")
		for _, p := range prompts.All() {
			nl, en := p.NL, p.EN
			if p.Tone {
				nl, en = "(tone)", "(tone)"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, nl, en, p.Use)
		}
		return w.Flush()
	case "generate":
		if *dir == "" {
			return usageError{errors.New("--dir: give the directory to write the sounds to")}
		}
		n, err := prompts.Generate(ctx, *dir, *lang, prompts.Exec)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d sounds written to %s/%s/; copy that directory into Asterisk's sounds directory\n", n, strings.TrimRight(*dir, "/"), *lang)
		return nil
	case "check":
		if *dir == "" {
			return usageError{errors.New("--dir: give the sounds directory to check, e.g. /usr/share/asterisk/sounds")}
		}
		missing := prompts.Missing(*dir, *lang)
		if len(missing) == 0 {
			fmt.Fprintf(stdout, "all %d sounds callmon plays are in %s/%s/\n", len(prompts.All()), strings.TrimRight(*dir, "/"), *lang)
			return nil
		}
		return fmt.Errorf("%d of %d sounds missing in %s/%s/: %s (callmon prompts generate --dir DIR --lang %s makes a placeholder set)",
			len(missing), len(prompts.All()), strings.TrimRight(*dir, "/"), *lang, strings.Join(missing, ", "), *lang)
	}
	fs.Usage()
	return usageError{fmt.Errorf("unknown prompts command %q: give list, generate or check", sub)}
}
