package scan

import "fmt"

// charset is a set of bytes built from regexp-class-like ranges ("A-Za-z0-9_-").
type charset [256]bool

func parseCharset(spec string) (charset, error) {
	var cs charset
	for i := 0; i < len(spec); i++ {
		lo := spec[i]
		if i+2 < len(spec) && spec[i+1] == '-' {
			hi := spec[i+2]
			if hi < lo {
				return cs, fmt.Errorf("bad range %q in charset %q", spec[i:i+3], spec)
			}
			for c := int(lo); c <= int(hi); c++ {
				cs[c] = true
			}
			i += 2
			continue
		}
		cs[lo] = true
	}
	return cs, nil
}

const defaultBoundary = "A-Za-z0-9_-"
