// Package printpdf prints HTML documents to PDF with headless Chromium
// (--print-to-pdf), so that a report's PDF is its page as a browser lays
// it out, charts (inline SVG) and print stylesheet included.
//
// Each print starts a fresh browser with a fresh, throw-away profile
// (--user-data-dir in a temporary directory) and the document in a file
// beside it; the browser runs with the network services it would start
// on its own turned off, so that printing reaches nothing outside.
// Chromium is not bundled: the system's is used (AIR_CHROMIUM, or
// chromium or chromium-browser on PATH).
package printpdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// EnvBrowser names the Chromium binary to print with.
const EnvBrowser = "AIR_CHROMIUM"

// Find returns the browser to print with: path when given, else
// $AIR_CHROMIUM, else chromium or chromium-browser on PATH; "" when
// there is none.
func Find(path string) string {
	if path != "" {
		return path
	}
	if p := os.Getenv(EnvBrowser); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Printer prints HTML to PDF. The zero value has no browser: Print says
// so with an unavailable error (HTTP 503).
type Printer struct {
	// Browser is the Chromium binary; "" means printing is not available.
	Browser string
	// Timeout bounds one print; 0 means 60s.
	Timeout time.Duration
}

// Available reports whether a browser is configured.
func (p *Printer) Available() bool { return p != nil && p.Browser != "" }

// ErrNoBrowser is Print's error when no browser is configured.
var ErrNoBrowser = domain.Errorf(domain.KindUnavailable,
	"PDF needs Chromium on the server and none was found: install it (apt-get install chromium) or name it with %s or -chromium", EnvBrowser)

// Flags are the browser's flags besides the profile and the output.
var Flags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--no-pdf-header-footer", "--hide-scrollbars"}

// Print lays out html and returns the PDF.
func (p *Printer) Print(ctx context.Context, html []byte) ([]byte, error) {
	if !p.Available() {
		return nil, ErrNoBrowser
	}
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "air-pdf-")
	if err != nil {
		return nil, fmt.Errorf("print pdf: %w", err)
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(in, html, 0o600); err != nil {
		return nil, fmt.Errorf("print pdf: %w", err)
	}
	args := append([]string{"--user-data-dir=" + filepath.Join(dir, "profile"), "--print-to-pdf=" + out}, Flags...)
	args = append(args, "file://"+in)
	cmd := exec.CommandContext(ctx, p.Browser, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	pdf, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		msg := tail(stderr.Bytes(), 500)
		if runErr != nil {
			return nil, fmt.Errorf("print pdf with %s: %w: %s", p.Browser, runErr, msg)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("print pdf with %s: no PDF within %s", p.Browser, timeout)
		}
		return nil, fmt.Errorf("print pdf with %s: no PDF written: %s", p.Browser, msg)
	}
	return pdf, nil
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
