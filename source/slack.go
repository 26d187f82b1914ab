package source

import (
	"context"
	"encoding/json"
	"html"
	"path"
	"strconv"
	"strings"

	"github.com/aicred/aicred"
)

// A slackMessage is one message of a Slack export: a channel directory holds
// one JSON array of messages per day (general/2024-03-01.json).
type slackMessage struct {
	Type        string `json:"type"`
	Ts          string `json:"ts"`
	User        string `json:"user"`
	UserName    string `json:"user_name"`
	UserProfile *struct {
		Name     string `json:"name"`
		RealName string `json:"real_name"`
	} `json:"user_profile"`
	Text  string `json:"text"`
	Files []struct {
		Title     string `json:"title"`
		Preview   string `json:"preview"`
		PlainText string `json:"plain_text"`
	} `json:"files"`
	Attachments []struct {
		Pretext  string `json:"pretext"`
		Title    string `json:"title"`
		Text     string `json:"text"`
		Fallback string `json:"fallback"`
		Fields   []struct {
			Title string `json:"title"`
			Value string `json:"value"`
		} `json:"fields"`
	} `json:"attachments"`
}

// scanSlack emits the text of each message of a Slack export day file. A
// JSON array that is not entirely Slack messages is refused (ok false) and
// scanned as a plain file.
func (s *run) scanSlack(ctx context.Context, e *entry, data []byte) (bool, error) {
	var msgs []slackMessage
	if json.Unmarshal(data, &msgs) != nil || len(msgs) == 0 {
		return false, nil
	}
	for i := range msgs {
		if msgs[i].Type != "message" || msgs[i].Ts == "" {
			return false, nil
		}
	}
	loc := withKind(e.loc, aicred.SourceChat)
	channel := slackChannel(e.name)
	for i := range msgs {
		m := &msgs[i]
		base := "message " + m.Ts
		if channel != "" {
			base += " channel #" + channel
		}
		if u := m.user(); u != "" {
			base += " user " + u
		}
		emit := func(suffix, text string) error {
			if text == "" {
				return nil
			}
			l := loc
			l.Locator = base + suffix
			if loc.Locator != "" {
				l.Locator = loc.Locator + " " + l.Locator
			}
			return s.emit(ctx, l, []byte(slackUnescape(text)))
		}
		if err := emit("", m.Text); err != nil {
			return true, err
		}
		for j, a := range m.Attachments {
			n := " attachment " + strconv.Itoa(j+1)
			fallback := a.Fallback
			if fallback == a.Text {
				fallback = ""
			}
			for _, t := range [...][2]string{{"", a.Text}, {" pretext", a.Pretext}, {" title", a.Title}, {" fallback", fallback}} {
				if err := emit(n+t[0], t[1]); err != nil {
					return true, err
				}
			}
			for k, f := range a.Fields {
				if err := emit(n+" field "+strconv.Itoa(k+1), strings.TrimSpace(f.Title+"\n"+f.Value)); err != nil {
					return true, err
				}
			}
		}
		for j, f := range m.Files {
			n := " file " + strconv.Itoa(j+1)
			for _, t := range [...][2]string{{" title", f.Title}, {"", f.Preview}, {" text", f.PlainText}} {
				if err := emit(n+t[0], t[1]); err != nil {
					return true, err
				}
			}
		}
	}
	return true, nil
}

func (m *slackMessage) user() string {
	name := m.UserName
	if name == "" && m.UserProfile != nil {
		name = m.UserProfile.Name
		if name == "" {
			name = m.UserProfile.RealName
		}
	}
	switch {
	case m.User == "":
		return name
	case name == "" || name == m.User:
		return m.User
	}
	return name + " (" + m.User + ")"
}

// slackChannel returns the channel of an export day file, the directory
// name in "general/2024-03-01.json", or "" when the name is not of that form.
func slackChannel(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	base := path.Base(name)
	if len(base) != len("2006-01-02.json") || !hasSuffixFold(base, ".json") {
		return ""
	}
	for i, c := range []byte(base[:10]) {
		if i == 4 || i == 7 {
			if c != '-' {
				return ""
			}
		} else if c < '0' || c > '9' {
			return ""
		}
	}
	dir := path.Base(path.Dir(name))
	if dir == "." || dir == "/" {
		return ""
	}
	// An archive member path carries the archive's name before a '!'.
	return dir[strings.LastIndexByte(dir, '!')+1:]
}

// slackUnescape undoes Slack's markup: links and mentions "<url|label>"
// become "url label", and the HTML entities &lt; &gt; &amp; become the
// characters they stand for. Real angle brackets in messages are always
// escaped, so every '<' in the raw text opens markup.
func slackUnescape(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		inner := s[i+1 : i+j]
		if k := strings.IndexByte(inner, '|'); k >= 0 {
			b.WriteString(inner[:k])
			b.WriteByte(' ')
			b.WriteString(inner[k+1:])
		} else {
			b.WriteString(inner)
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return html.UnescapeString(b.String())
}
