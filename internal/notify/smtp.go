package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// SMTP sends mail through a submission server. With TLS starttls (the
// default) the server must offer STARTTLS and the session is upgraded
// before anything else, the password included, is sent; implicit speaks
// TLS from the first byte (port 465); none sends in the clear and the
// configuration allows it only to a loopback relay. A 5xx reply is
// permanent (a refused sender or recipient, a bad password), a 4xx reply
// or a broken connection is worth another try.
type SMTP struct {
	Host     string
	Port     int
	From     string
	To       []string
	Username string
	Password string
	TLS      string
	// RootCAs verify the server; nil means the system's roots.
	RootCAs *x509.CertPool
	// Hello is the name this host gives in EHLO; empty means its host
	// name.
	Hello string
	Now   func() time.Time
}

// Send delivers the message to every recipient in one transaction.
func (s *SMTP) Send(ctx context.Context, m Outgoing) error {
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	tlsConf := &tls.Config{ServerName: s.Host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", addr, err)
	}
	// net/smtp takes no context: the deadline and the close on
	// cancellation bound every exchange.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.TLS == TLSImplicit {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("smtp: TLS with %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return smtpError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.hello()); err != nil {
		return smtpError("EHLO", err)
	}
	if s.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp: %s does not offer STARTTLS, which this channel requires (tls: implicit for port 465, or tls: none with insecure: true for a loopback relay)", addr)
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return smtpError("STARTTLS", err)
		}
	}
	if s.Username != "" {
		// PlainAuth itself refuses to send the password over a connection
		// without TLS, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return smtpError("AUTH", err)
		}
	}
	if err := c.Mail(bareAddress(s.From)); err != nil {
		return smtpError("MAIL FROM", err)
	}
	for _, to := range s.To {
		if err := c.Rcpt(bareAddress(to)); err != nil {
			return smtpError("RCPT TO "+bareAddress(to), err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(s.compose(m)); err != nil {
		return smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("end of DATA", err)
	}
	// The message is accepted once DATA ends well; a failed QUIT changes
	// nothing.
	_ = c.Quit()
	return nil
}

func (s *SMTP) hello() string {
	if s.Hello != "" {
		return s.Hello
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// smtpError classifies a failed exchange: a 5xx reply will not change on
// another try; anything else (4xx, a broken connection) may.
func smtpError(step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return permanent("smtp: %s: %d %s", step, tp.Code, tp.Msg)
	}
	return fmt.Errorf("smtp: %s: %w", step, err)
}

// bareAddress is the address part of "Name <addr>".
func bareAddress(s string) string {
	if i, j := strings.LastIndex(s, "<"), strings.LastIndex(s, ">"); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return strings.TrimSpace(s)
}

// compose writes the message: plain text in UTF-8, quoted-printable, the
// subject encoded and stripped of line breaks so that no header can be
// injected through it, marked auto-generated (RFC 3834) so that
// auto-responders stay quiet, with a Message-ID derived from the key so
// that a message sent twice (at least once means it can be) is one
// message to mail clients that deduplicate.
// CarriesFiles marks mail as a FileSender.
func (*SMTP) CarriesFiles() {}

func (s *SMTP) compose(m Outgoing) []byte {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", s.From)
	header("To", strings.Join(s.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	header("Date", now(s.Now).UTC().Format(time.RFC1123Z))
	sum := sha256.Sum256([]byte(m.Key))
	header("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@air.notify>")
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	text := m.Text
	if text == "" {
		text = m.Subject
	}
	body := func(w io.Writer) {
		qp := quotedprintable.NewWriter(w)
		qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")))
		qp.Close()
	}
	textHeader := textproto.MIMEHeader{"Content-Type": {`text/plain; charset="utf-8"`}, "Content-Transfer-Encoding": {"quoted-printable"}}
	if len(m.Attachments) == 0 {
		header("Content-Type", textHeader.Get("Content-Type"))
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		body(&b)
		b.WriteString("\r\n")
		return b.Bytes()
	}
	// multipart/mixed: the text, then each file in base64 (RFC 2045/2046),
	// its name encoded (RFC 2231 via mime.FormatMediaType).
	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	if w, err := mw.CreatePart(textHeader); err == nil {
		body(w)
	}
	for _, a := range m.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(ct, map[string]string{"name": a.Name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			continue
		}
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 { // RFC 2045: lines of at most 76 characters
			io.WriteString(w, enc[:76]+"\r\n")
			enc = enc[76:]
		}
		io.WriteString(w, enc+"\r\n")
	}
	mw.Close()
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}
