package http

// traceID returns the trace id of a W3C traceparent header
// (https://www.w3.org/TR/trace-context/#traceparent-header), and whether h
// is one authd accepts: version 00, exactly "00-" + 32 lowercase hex
// digits (not all zero) + "-" + 16 (not all zero) + "-" + 2. Anything
// else, including a later version, is ignored as if absent.
func traceID(h string) (string, bool) {
	if len(h) != 55 || h[:3] != "00-" || h[35] != '-' || h[52] != '-' {
		return "", false
	}
	trace, parent, flags := h[3:35], h[36:52], h[53:55]
	if !lowerHex(trace) || !lowerHex(parent) || !lowerHex(flags) || allZero(trace) || allZero(parent) {
		return "", false
	}
	return trace, true
}

func lowerHex(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for _, c := range []byte(s) {
		if c != '0' {
			return false
		}
	}
	return true
}
