package msgraph

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/remediation"
)

// methodPaths maps the authentication methods AIR removes (Graph's
// @odata.type) to their collection under /users/{id}/authentication/. The
// password is not one of them: user.reset_factors leaves it alone.
var methodPaths = map[string]string{
	"#microsoft.graph.microsoftAuthenticatorAuthenticationMethod":  "microsoftAuthenticatorMethods",
	"#microsoft.graph.softwareOathAuthenticationMethod":            "softwareOathMethods",
	"#microsoft.graph.fido2AuthenticationMethod":                   "fido2Methods",
	"#microsoft.graph.windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusinessMethods",
	"#microsoft.graph.temporaryAccessPassAuthenticationMethod":     "temporaryAccessPassMethods",
	"#microsoft.graph.emailAuthenticationMethod":                   "emailMethods",
	"#microsoft.graph.phoneAuthenticationMethod":                   "phoneMethods",
}

// authMethod is an entry of a user's authentication methods.
type authMethod struct {
	Type string `json:"@odata.type"`
	ID   string `json:"id"`
}

// resetFactors removes every registered authentication method of the user
// but the password (GET /v1.0/users/{id}/authentication/methods, then
// DELETE /v1.0/users/{id}/authentication/{collection}/{methodId};
// permission UserAuthenticationMethod.ReadWrite.All), so that the user must
// register MFA again. Phones go last: Entra ID refuses to delete the
// default method while others remain. The list is read first, so a retry
// after a crash removes only what is left, and a method gone meanwhile
// (404) counts as removed; a user with nothing to remove is left as is.
func (c *Client) resetFactors(ctx context.Context, u *User) (remediation.Result, error) {
	base := "/v1.0/users/" + url.PathEscape(u.ID) + "/authentication/"
	var page struct {
		Value []authMethod `json:"value"`
	}
	if err := c.API.Do(ctx, http.MethodGet, base+"methods", nil, &page); err != nil {
		return remediation.Result{}, err
	}
	methods := slices.DeleteFunc(page.Value, func(m authMethod) bool { return methodPaths[m.Type] == "" })
	slices.SortStableFunc(methods, func(a, b authMethod) int {
		return boolInt(methodPaths[a.Type] == "phoneMethods") - boolInt(methodPaths[b.Type] == "phoneMethods")
	})
	if len(methods) == 0 {
		return remediation.Result{Summary: u.UserPrincipalName + " has no MFA method registered"}, nil
	}
	var removed []string
	for _, m := range methods {
		if _, err := c.delete(ctx, base+methodPaths[m.Type]+"/"+url.PathEscape(m.ID)); err != nil {
			return remediation.Result{}, fmt.Errorf("remove %s of %s (after %d removed): %w", strings.TrimSuffix(methodPaths[m.Type], "s"),
				u.UserPrincipalName, len(removed), err)
		}
		removed = append(removed, strings.TrimSuffix(methodPaths[m.Type], "Methods"))
	}
	return remediation.Result{Summary: fmt.Sprintf("%d MFA method(s) of %s removed (%s): they register again at next sign-in",
		len(removed), u.UserPrincipalName, strings.Join(removed, ", ")), Changed: true}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
