package web

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/provider"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "error", "overview", "inventory", "credential", "confirm", "posture", "usage",
	"alerts", "tokens", "config", "audit", "done"}

var funcs = template.FuncMap{
	"num":  thousands,
	"usd":  usd,
	"f1":   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"when": when,
	"ago":  func(t time.Time) string { return ago(t, time.Now()) },
	// took renders a duration to about four significant figures.
	"took":  func(d time.Duration) string { return d.Round(max(d/1000, time.Microsecond)).String() },
	"join":  strings.Join,
	"short": func(fp aicred.Fingerprint) string { return fp.Short() },
	"kindName": func(p, k string) string {
		if kd, ok := provider.LookupKind(p, k); ok && kd.Name != "" {
			return kd.Name
		}
		return p + "/" + k
	},
	"live": func(v aicred.Verification) bool { return v == aicred.Live || v == aicred.LiveNoPermission },
	"sev":  func(s posture.Severity) string { return s.String() },
	// link is path with the non-empty query parameters kv: a console
	// URL built here, so the template takes it whole.
	"link": func(path string, kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		if len(v) == 0 {
			return template.URL(path)
		}
		return template.URL(path + "?" + v.Encode())
	},
	"inc":    func(i int) int { return i + 1 },
	"orNone": orNone,
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"pct": func(a, b float64) string {
		if b <= 0 {
			return "–"
		}
		return strconv.FormatFloat(100*a/b, 'f', 0, 64) + "%"
	},
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, p := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/charts.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", p, err)
		}
		out[p] = t
	}
	return out, nil
}

// page is what layout.html reads.
type page struct {
	Title   string
	Nav     string
	Session *session
	CSRF    string
	Data    any
}

// render executes page name into a buffer first, so a template error is
// a clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, s *session, title string, data any) {
	p := page{Title: title, Nav: name, Session: s, Data: data}
	if s != nil {
		p.CSRF = s.csrf
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, p); err != nil {
		c.o.Log.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// thousands writes n with separators: 12,345.
func thousands(n any) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	default:
		return fmt.Sprint(n)
	}
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func usd(f float64) string {
	switch {
	case f == 0:
		return "$0"
	case math.Abs(f) < 0.01:
		return "$" + strconv.FormatFloat(f, 'f', 4, 64)
	case math.Abs(f) >= 1000:
		return "$" + thousands(int64(math.Round(f)))
	}
	return "$" + strconv.FormatFloat(f, 'f', 2, 64)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}
