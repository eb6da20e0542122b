package playbook

import (
	"path/filepath"
	"testing"
)

// TestLoadBuiltIn: with no directory, Load gives the shipped playbooks
// built into the binary, with the same names and files as read from disk.
func TestLoadBuiltIn(t *testing.T) {
	built, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := LoadDir("../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	if len(built) == 0 || len(built) != len(disk) {
		t.Fatalf("built in: %d playbooks, on disk: %d", len(built), len(disk))
	}
	for i := range built {
		if built[i].Name != disk[i].Name || built[i].File != "playbooks/"+filepath.Base(disk[i].File) || string(built[i].Source) != string(disk[i].Source) {
			t.Errorf("playbook %d: built in %s (%s), on disk %s (%s)", i, built[i].Name, built[i].File, disk[i].Name, disk[i].File)
		}
	}
}
