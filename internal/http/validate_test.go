package http

import (
	"strings"
	"testing"
)

func TestValidPhoto(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		photo string
		ok    bool
	}{
		{"", true},
		{"default.png", true},
		{"avatars/ada-1.png", true},
		{"/static/img/ada_2.jpeg", true},
		{"~ada.gif", true},
		{"https://example.com/ada.png", true},
		{"http://example.com:8080/a/b.png?size=64&v=2#x", true},
		{"HTTPS://EXAMPLE.COM/A.PNG", true},
		{"https://example.com/" + strings.Repeat("a", 2028), true},
		{"https://example.com/" + strings.Repeat("a", 2029), false},

		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{" javascript:alert(1)", false},
		{"data:image/png;base64,AAAA", false},
		{"vbscript:msgbox", false},
		{"file:///etc/passwd", false},
		{"//evil.example/x.png", false},
		{"https://user:pw@example.com/a.png", false},
		{"https:///a.png", false},
		{`https://example.com/a"onerror="alert(1)`, false},
		{"https://example.com/a'b", false},
		{"https://example.com/<script>", false},
		{"https://example.com/a b.png", false},
		{`https:\\example.com\a.png`, false},
		{"<img src=x onerror=alert(1)>", false},
		{"default.png\n", false},
		{"default\x00.png", false},
		{"a b.png", false},
		{"\"default.png\"", false},
	} {
		err := validPhoto(tc.photo)
		if (err == nil) != tc.ok {
			t.Errorf("validPhoto(%q) = %v, want ok %v", truncate(tc.photo, 60), err, tc.ok)
		}
	}
}
