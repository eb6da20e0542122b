// Package configenv is how AIR's configuration files (connectors,
// notifications) read what they keep out of themselves: secrets and
// settings in environment variables and files. Tests give their own.
package configenv

import "os"

// Env reads environment variables and files; the zero value reads the
// process's.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Var returns the environment variable's value ("" when unset).
func (e Env) Var(name string) string {
	if e.Getenv != nil {
		return e.Getenv(name)
	}
	return os.Getenv(name)
}

// File returns the file's content.
func (e Env) File(name string) ([]byte, error) {
	if e.ReadFile != nil {
		return e.ReadFile(name)
	}
	return os.ReadFile(name)
}
