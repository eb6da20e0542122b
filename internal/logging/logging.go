// Package logging builds AIR's logrus logger from configuration and adapts it
// to Temporal's logger interface, so that workflow and activity logs go to
// the same place and carry the workflow id, run id and incident id that the
// SDK and AIR attach as key-value pairs.
package logging

import (
	"fmt"
	"io"
	"strings"

	"github.com/sirupsen/logrus"
	tlog "go.temporal.io/sdk/log"
)

// Config selects the format and level. The zero value is text at info level.
type Config struct {
	Format string // "text" or "json"
	Level  string // logrus level name: debug, info, warn, error
}

// New builds a logger writing to w.
func New(w io.Writer, cfg Config) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetOutput(w)
	switch strings.ToLower(cfg.Format) {
	case "", "text":
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("log format %q: want text or json", cfg.Format)
	}
	level := cfg.Level
	if level == "" {
		level = "info"
	}
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", cfg.Level)
	}
	l.SetLevel(lv)
	return l, nil
}

// Temporal adapts a logrus logger to Temporal's log.Logger and
// log.WithLogger.
type Temporal struct {
	Entry *logrus.Entry
}

var (
	_ tlog.Logger     = Temporal{}
	_ tlog.WithLogger = Temporal{}
)

// NewTemporal wraps l for the Temporal SDK.
func NewTemporal(l logrus.FieldLogger) Temporal {
	return Temporal{Entry: l.WithFields(logrus.Fields{})}
}

func (t Temporal) fields(keyvals []any) *logrus.Entry {
	if len(keyvals) == 0 {
		return t.Entry
	}
	f := make(logrus.Fields, len(keyvals)/2+1)
	for i := 0; i < len(keyvals); i += 2 {
		k := fmt.Sprint(keyvals[i])
		if i+1 < len(keyvals) {
			f[k] = keyvals[i+1]
		} else {
			f[k] = "(missing)"
		}
	}
	return t.Entry.WithFields(f)
}

// Debug logs at debug level.
func (t Temporal) Debug(msg string, keyvals ...any) { t.fields(keyvals).Debug(msg) }

// Info logs at info level.
func (t Temporal) Info(msg string, keyvals ...any) { t.fields(keyvals).Info(msg) }

// Warn logs at warn level.
func (t Temporal) Warn(msg string, keyvals ...any) { t.fields(keyvals).Warn(msg) }

// Error logs at error level.
func (t Temporal) Error(msg string, keyvals ...any) { t.fields(keyvals).Error(msg) }

// With returns a logger that adds keyvals to every line.
func (t Temporal) With(keyvals ...any) tlog.Logger {
	return Temporal{Entry: t.fields(keyvals)}
}
