package slurm

import (
	"strconv"
	"unicode/utf8"
)

// AppendStepsJSON appends steps as the JSON array the jobs table stores
// (the same document encoding/json makes of []Step: same names, same
// omitted empties). Ingest builds one per record; encoding/json's
// reflection cost more than the rest of the row.
func AppendStepsJSON(b []byte, steps []Step) []byte {
	b = append(b, '[')
	for i := range steps {
		if i > 0 {
			b = append(b, ',')
		}
		s := &steps[i]
		b = append(b, `{"id":`...)
		b = appendJSONString(b, s.ID)
		if s.Name != "" {
			b = append(b, `,"name":`...)
			b = appendJSONString(b, s.Name)
		}
		b = append(b, `,"state":`...)
		b = appendJSONString(b, s.State)
		if s.ExitCode != nil {
			b = append(b, `,"exit_code":`...)
			b = strconv.AppendInt(b, int64(*s.ExitCode), 10)
		}
		if s.Start != 0 {
			b = append(b, `,"start":`...)
			b = strconv.AppendInt(b, s.Start, 10)
		}
		if s.End != 0 {
			b = append(b, `,"end":`...)
			b = strconv.AppendInt(b, s.End, 10)
		}
		b = append(b, `,"elapsed":`...)
		b = strconv.AppendInt(b, s.ElapsedSeconds, 10)
		b = append(b, `,"cpu_us":`...)
		b = strconv.AppendInt(b, s.CPUTimeMicros, 10)
		if s.Tasks != 0 {
			b = append(b, `,"tasks":`...)
			b = strconv.AppendInt(b, s.Tasks, 10)
		}
		if s.NodeList != "" {
			b = append(b, `,"nodes":`...)
			b = appendJSONString(b, s.NodeList)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONString quotes s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
