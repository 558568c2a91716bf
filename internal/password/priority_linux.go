package password

import "syscall"

// lowerPriority sets the nice value of the calling thread only: on Linux
// setpriority with a thread id applies to that thread.
func lowerPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}

// threadNice returns the nice value of the calling thread.
func threadNice() (int, error) {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	return 20 - p, err // the raw system call answers 20 - nice
}
