package actions

import (
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// labels are the action types as an analyst says them; the pages show
// them, with the identifier beside (in a tooltip) for the API and CLI.
var labels = map[string]string{
	"device.isolate":                       "Isolate device",
	"device.release":                       "Release device from isolation",
	"device.restrict_app_execution":        "Restrict app execution",
	"device.unrestrict_app_execution":      "Remove app execution restriction",
	"device.run_av_scan":                   "Run antivirus scan",
	"device.collect_investigation_package": "Collect investigation package",
	"file.stop_and_quarantine":             "Stop and quarantine file",
	"file.release_quarantine":              "Release file from quarantine",
	"process.kill":                         "Kill process",
	"persistence.remove":                   "Remove persistence",
	"persistence.restore":                  "Restore persistence",
	"email.soft_delete":                    "Soft-delete email",
	"email.move_to_inbox":                  "Move email back to inbox",
	"email.block_sender":                   "Block sender",
	"email.unblock_sender":                 "Unblock sender",
	"url.block":                            "Block URL",
	"url.unblock":                          "Unblock URL",
	"ip.block":                             "Block IP address",
	"ip.unblock":                           "Unblock IP address",
	"file.block":                           "Block file",
	"file.unblock":                         "Unblock file",
	"file.analyze":                         "Analyse file (intelligence, prevalence, vendor statistics)",
	"ip.analyze":                           "Analyse IP address (intelligence, prevalence, vendor statistics)",
	"device.analyze":                       "Analyse device (logged-on users, related alerts)",
	"user.analyze":                         "Analyse user (risk, recent sign-ins)",
	"url.analyze":                          "Analyse URL (intelligence, prevalence)",
	"file.hunt":                            "Find the file on other devices",
	"ip.hunt":                              "Find the IP address on other devices",
	"url.hunt":                             "Find the URL on other devices",
	"mailbox.disable_external_forwarding":  "Disable external mail forwarding",
	"mailbox.remove_inbox_rule":            "Remove inbox rule",
	"user.disable":                         "Disable user",
	"user.enable":                          "Enable user",
	"user.reset_factors":                   "Reset MFA methods",
	"user.revoke_sessions":                 "Revoke sign-in sessions",
	"user.reset_password":                  "Reset password",
	"user.confirm_compromised":             "Confirm user compromised",
	"user.dismiss_risk":                    "Dismiss user risk",
	"app.disable":                          "Disable OAuth app",
	"app.enable":                           "Enable OAuth app",
	"app.revoke_consent":                   "Revoke OAuth app consent",
	"incident.tag":                         "Tag incident",
	"incident.comment":                     "Comment on incident",
	"incident.notify":                      "Send notification",
	"incident.set_severity":                "Set incident severity",
	"incident.classify":                    "Classify incident",
	"incident.assign":                      "Assign incident",
	"incident.resolve":                     "Resolve incident",
}

func init() {
	// A rule verdict on each kind reads "Decide device verdict".
	for _, k := range verdictKinds {
		labels[string(k)+".set_verdict"] = "Decide " + kindWords[k] + " verdict"
	}
}

// kindWords are entity kinds as a label says them.
var kindWords = map[domain.EntityKind]string{domain.KindDevice: "device", domain.KindUser: "user", domain.KindMailbox: "mailbox",
	domain.KindFile: "file", domain.KindProcess: "process", domain.KindIP: "IP", domain.KindURL: "URL",
	domain.KindMessage: "email", domain.KindOAuthApp: "OAuth app"}

// Label is an action type in words ("device.isolate" → "Isolate
// device"). A type without a label is spelled out from its identifier
// ("device.do_thing" → "Do thing (device)").
func Label(actionType string) string {
	if l, ok := labels[actionType]; ok {
		return l
	}
	kind, verb, ok := strings.Cut(actionType, ".")
	if !ok || verb == "" {
		return actionType
	}
	words := strings.ReplaceAll(verb, "_", " ")
	return strings.ToUpper(words[:1]) + words[1:] + " (" + kind + ")"
}
