package nativestack

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Compose is what the native stack takes from docker-compose.yml, so that
// the two run the same configuration: the temporal-schema job's script and
// the environment of that job and of the temporal server service.
type Compose struct {
	// SchemaScript is the temporal-schema job's /bin/sh -ec script as the
	// container's shell runs it (compose's $$ unescaped to $).
	SchemaScript string
	// SchemaEnv and ServerEnv are the environments of the temporal-schema
	// and temporal services.
	SchemaEnv, ServerEnv map[string]string
}

// Connection names the variables through which the schema script and the
// server image reach Temporal's databases. The native stack sets each of
// them to its own PostgreSQL and databases; LoadCompose fails unless the
// script reads every one of them and the server's values match the job's.
var Connection = []string{"DB", "POSTGRES_SEEDS", "DB_PORT", "POSTGRES_USER", "POSTGRES_PWD", "DBNAME", "VISIBILITY_DBNAME"}

// LoadCompose reads docker-compose.yml and checks that its Temporal set-up
// can run natively unchanged but for the Connection variables: the schema
// script reads its connection from those variables only (no literal host,
// no path that exists only inside an image), and the server reads the same
// values.
func LoadCompose(path string) (*Compose, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Services map[string]struct {
			Entrypoint  []string          `yaml:"entrypoint"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	job, server := f.Services["temporal-schema"], f.Services["temporal"]
	if !slices.Equal(job.Entrypoint, []string{"/bin/sh", "-ec"}) || len(job.Command) != 1 {
		return nil, fmt.Errorf("%s: temporal-schema must run one script with entrypoint [/bin/sh, -ec], got %q %q", path, job.Entrypoint, job.Command)
	}
	c := &Compose{SchemaEnv: job.Environment, ServerEnv: server.Environment}
	raw := job.Command[0]
	// Compose interpolates a lone $ from the host's environment, not the
	// container's: the script must escape every one as $$.
	if strings.Contains(strings.ReplaceAll(raw, "$$", ""), "$") {
		return nil, fmt.Errorf("%s: temporal-schema's script has a $ that compose would take from the host; write $$", path)
	}
	c.SchemaScript = strings.ReplaceAll(raw, "$$", "$")
	var errs []error
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(c.SchemaScript, -1) {
		used[m[1]] = true
		if _, ok := c.SchemaEnv[m[1]]; !ok {
			errs = append(errs, fmt.Errorf("temporal-schema's script reads $%s, which its environment does not set", m[1]))
		}
	}
	for _, k := range Connection {
		if !used[k] {
			errs = append(errs, fmt.Errorf("temporal-schema's script does not read $%s: a literal in its place would not follow the native stack's database", k))
		}
		if c.SchemaEnv[k] != c.ServerEnv[k] {
			errs = append(errs, fmt.Errorf("%s: temporal-schema has %q, the temporal server %q", k, c.SchemaEnv[k], c.ServerEnv[k]))
		}
	}
	if strings.Contains(c.SchemaScript, "/etc/temporal") {
		errs = append(errs, errors.New("temporal-schema's script names a path inside the image; use the schemas built into temporal-sql-tool (--schema-name)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// env returns base with over laid on top, as KEY=value pairs in a stable
// order, for exec.Cmd.Env.
func env(base, over map[string]string) []string {
	all := maps.Clone(base)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, over)
	out := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		out = append(out, k+"="+all[k])
	}
	return out
}
