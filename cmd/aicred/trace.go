package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/seal"
)

func newTraceCmd(a *app) *cobra.Command {
	var (
		format, file, prov, kind string
		noLive                   bool
		baseURLs, hints          []string
	)
	cmd := &cobra.Command{
		Use:   "trace [FINGERPRINT | HELD_ID | TOKEN_ID]",
		Short: "Tell everything known about a leaked credential or aicred token: what it unlocks and reaches, where it was seen, who used it, the tokens derived from it",
		Long: `trace gathers, for one credential, everything aicred knows into one report:
the provider and kind and what it unlocks; a live deep look at what it reaches,
made with read-only calls to the provider (when the secret is at hand: given on
stdin or with --file, or held by aicred and the master key is available; --no-live
skips it); every sighting from the inventory; the gateway's use of it when aicred
holds it (workloads, models, spend, source networks, first and last use); every
aicred token that may use it; and the audit trail, merged into one timeline.

The argument is a fingerprint (sha256:<64 hex>, or a unique prefix of at least 6
hex digits as 'inventory list' prints), a held credential id (hc_...) or a token
id (tok_...). Without an argument, a secret or an aicred token (aicw_, aica_) is
read from stdin or --file: never give one on the command line.

The JSON form (schema aicred.trace/v1) is stable: see respond.TraceReport.`,
		Example: `  aicred trace < leaked-key.txt
  aicred trace --file key.txt --format html > incident.html
  aicred trace sha256:3f2a... --format md
  aicred trace hc_1a2b3c --no-live
  echo "$AICRED_TOKEN" | aicred trace --format json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !contains(respond.TraceFormats, format) {
				return usageErr("--format must be text, json, md or html")
			}
			opt := respond.TraceOptions{Live: !noLive, BaseURLs: map[string]string{}}
			for _, b := range baseURLs {
				k, v, ok := strings.Cut(b, "=")
				if !ok || k == "" {
					return usageErr(fmt.Sprintf("--base-url %q: want PROVIDER[/KIND]=URL", b))
				}
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usageErr(fmt.Sprintf("--base-url %s: %q is not an http(s) URL", k, v))
				}
				opt.BaseURLs[k] = v
			}
			in := respond.TraceInput{Provider: prov, Kind: kind, Hints: map[string]string{}}
			for _, h := range hints {
				k, v, ok := strings.Cut(h, "=")
				if !ok || k == "" {
					return usageErr(fmt.Sprintf("--hint %q: want KEY=VALUE", h))
				}
				in.Hints[k] = v
			}
			if (prov == "") != (kind == "") {
				return usageErr("--provider and --kind go together")
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			switch {
			case len(args) == 1 && file != "":
				return usageErr("give an argument or --file, not both")
			case len(args) == 1:
				arg := args[0]
				switch {
				case strings.HasPrefix(arg, "hc_"):
					in.HeldID = arg
				case strings.HasPrefix(arg, "tok_"):
					in.TokenID = arg
				case traceFingerprintArg(arg):
					fp, err := resolveFingerprint(ctx, st, arg)
					if err != nil {
						return errExit(err)
					}
					in.Fingerprint = fp
				default:
					// Never echo it: it may be the secret itself.
					return usageErr("the argument is not a fingerprint, a held credential id (hc_...) or a token id (tok_...); " +
						"give a secret or a token on stdin or with --file, never on the command line")
				}
			default:
				s, err := readSecret(a.stdin, file)
				if err != nil {
					return errExit(err)
				}
				if raw := s.Reveal(); strings.HasPrefix(raw, provider.TokenPrefixWorkload) || strings.HasPrefix(raw, provider.TokenPrefixAdmin) {
					in.Token = s
				} else {
					in.Secret = s
				}
			}
			if opt.Live {
				opt.Sealer = traceSealer()
			}
			rep, err := respond.Trace(ctx, st, in, opt)
			if err != nil {
				return errExit(err)
			}
			return errExit(respond.WriteTrace(a.stdout, rep, format))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&format, "format", "f", "text", "text, json, md or html")
	f.StringVar(&file, "file", "", "read the secret or token from this file instead of stdin")
	f.BoolVar(&noLive, "no-live", false, "make no call to the provider")
	f.StringArrayVar(&baseURLs, "base-url", nil, "PROVIDER[/KIND]=URL: the API base the deep trace calls (repeatable; for tests and private endpoints)")
	f.StringVar(&prov, "provider", "", "the secret's provider, when its shape matches several kinds")
	f.StringVar(&kind, "kind", "", "the secret's kind, with --provider")
	f.StringArrayVar(&hints, "hint", nil, "KEY=VALUE non-secret hint for the deep trace (host, public_key; repeatable)")
	return cmd
}

// traceFingerprintArg reports whether arg is a fingerprint or a hex prefix
// of one, as resolveFingerprint takes.
func traceFingerprintArg(arg string) bool {
	if aicred.Fingerprint(arg).Valid() {
		return true
	}
	hex := strings.TrimPrefix(strings.ToLower(arg), "sha256:")
	if len(hex) < 6 || len(hex) > 64 {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// traceSealer returns the master keyring when one exists, to open a held
// credential for the deep trace; nil otherwise. A trace never creates a
// master key.
func traceSealer() aicred.Sealer {
	if v := os.Getenv(seal.EnvKey); v != "" {
		if k, err := seal.ParseEnv(v); err == nil {
			return k
		}
		return nil
	}
	path, err := seal.DefaultKeyFile()
	if err != nil {
		return nil
	}
	k, err := seal.LoadFile(path)
	if err != nil {
		return nil // none yet, or unreadable: the report says the held key was not opened
	}
	return k
}
