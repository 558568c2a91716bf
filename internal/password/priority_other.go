//go:build !linux

package password

// lowerPriority does nothing where per-thread priorities are not known to
// work; hashes then run at normal priority.
func lowerPriority(int) error { return nil }

func threadNice() (int, error) { return 0, nil }
