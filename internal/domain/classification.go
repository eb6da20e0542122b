package domain

import (
	"slices"
	"strings"
)

// Incident classifications (Graph alertClassification).
const (
	ClassificationUnknown       = "unknown"
	ClassificationFalsePositive = "falsePositive"
	ClassificationTruePositive  = "truePositive"
	ClassificationInformational = "informationalExpectedActivity"
)

// Classifications lists every classification.
var Classifications = []string{ClassificationUnknown, ClassificationFalsePositive, ClassificationTruePositive,
	ClassificationInformational}

// DeterminationsOf maps each classification to the determinations that fit
// it (SPEC §1, Incident). "unknown" fits only "unknown".
var DeterminationsOf = map[string][]string{
	ClassificationTruePositive: {"multiStagedAttack", "maliciousUserActivity", "compromisedAccount", "malware",
		"phishing", "unwantedSoftware", "other"},
	ClassificationInformational: {"securityTesting", "lineOfBusinessApplication", "confirmedActivity", "other"},
	ClassificationFalsePositive: {"notMalicious", "notEnoughDataToValidate", "other"},
	ClassificationUnknown:       {"unknown"},
}

// DeterminationAliases are older Graph names accepted on input and stored
// under their canonical name.
var DeterminationAliases = map[string]string{
	"compromisedUser":       "compromisedAccount",
	"clean":                 "notMalicious",
	"insufficientData":      "notEnoughDataToValidate",
	"confirmedUserActivity": "confirmedActivity",
}

// Determinations lists every canonical determination once, in the order of
// Classifications.
func Determinations() []string {
	var out []string
	for _, c := range Classifications {
		for _, d := range DeterminationsOf[c] {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// CanonicalDetermination returns a determination's canonical name (aliases
// resolved), or an invalid error naming field when it is none.
func CanonicalDetermination(field, d string) (string, error) {
	if c, ok := DeterminationAliases[d]; ok {
		return c, nil
	}
	all := Determinations()
	if !slices.Contains(all, d) {
		return "", Invalid(field, "unknown determination %q, want one of %s", d, strings.Join(all, ", "))
	}
	return d, nil
}

// ParseClassification checks a classification name.
func ParseClassification(field, c string) (string, error) {
	if !slices.Contains(Classifications, c) {
		return "", Invalid(field, "unknown classification %q, want one of %s", c, strings.Join(Classifications, ", "))
	}
	return c, nil
}

// CheckClassification validates a classification with its determination
// and returns both canonical: the determination must fit the
// classification (truePositive → malware, …; aliases accepted). An empty
// determination with classification unknown means unknown; with another
// classification it is an error that lists the determinations that fit.
func CheckClassification(classification, determination string) (string, string, error) {
	c, err := ParseClassification("classification", classification)
	if err != nil {
		return "", "", err
	}
	fits := DeterminationsOf[c]
	if determination == "" {
		if c == ClassificationUnknown {
			return c, "unknown", nil
		}
		return "", "", Invalid("determination", "required with classification %s: want one of %s", c, strings.Join(fits, ", "))
	}
	d, err := CanonicalDetermination("determination", determination)
	if err != nil {
		return "", "", err
	}
	if !slices.Contains(fits, d) {
		return "", "", Invalid("determination", "%s does not fit classification %s: want one of %s", d, c, strings.Join(fits, ", "))
	}
	return c, d, nil
}
