package api

import (
	"io"
	"net/http"
	"time"
)

// StreamWriteTimeout is how long one write of a streamed download may wait
// for the client. A client that stops reading would otherwise hold the
// database connection behind the stream for as long as it likes.
const StreamWriteTimeout = 30 * time.Second

// StreamWriter returns a writer for a long download (a CSV export) to w:
// every write must reach the client within StreamWriteTimeout.
func StreamWriter(w http.ResponseWriter) io.Writer {
	return &streamWriter{w: w, rc: http.NewResponseController(w)}
}

type streamWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *streamWriter) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(StreamWriteTimeout)) // unsupported by a test recorder: then no deadline
	return s.w.Write(p)
}

// AbortStream ends a download that failed after its first bytes went out:
// the connection is cut, so the client sees a failed download rather than
// a file that looks complete.
func AbortStream() { panic(http.ErrAbortHandler) }
