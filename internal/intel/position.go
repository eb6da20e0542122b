package intel

import (
	"encoding/json"
	"io"
)

// lineReader counts lines as a JSON decoder reads, so that a decoder's byte
// offset can be told as line and column. It keeps the offsets of newlines
// not yet asked about; since positions are asked in increasing order, that
// is about one decoder buffer's worth, not the whole file.
type lineReader struct {
	r    io.Reader
	read int64   // bytes read so far
	nl   []int64 // offsets of newlines past the last position asked
	line int     // 1-based line of the last position asked
	bol  int64   // offset where that line begins
}

func newLineReader(r io.Reader) *lineReader { return &lineReader{r: r, line: 1} }

func (l *lineReader) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	for i := 0; i < n; i++ {
		if b[i] == '\n' {
			l.nl = append(l.nl, l.read+int64(i))
		}
	}
	l.read += int64(n)
	return n, err
}

// position returns the 1-based line and column of offset off, which must
// not be smaller than in the previous call.
func (l *lineReader) position(off int64) (line, col int) {
	i := 0
	for i < len(l.nl) && l.nl[i] < off {
		l.line++
		l.bol = l.nl[i] + 1
		i++
	}
	l.nl = l.nl[i:]
	return l.line, int(off-l.bol) + 1
}

// next returns the position of the decoder's next value: its offset after
// the last token, moved past the white space and commas still buffered.
func (l *lineReader) next(dec *json.Decoder) (line, col int) {
	off := dec.InputOffset()
	buf := make([]byte, 256)
	n, _ := dec.Buffered().Read(buf)
	for i := 0; i < n; i++ {
		switch buf[i] {
		case ' ', '\t', '\r', '\n', ',', ':':
			continue
		}
		off += int64(i)
		break
	}
	return l.position(off)
}
