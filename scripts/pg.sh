# Shared by the scripts: find the PostgreSQL server binaries and run them as
# the right user (initdb refuses to run as root).

pg_bindir() {
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
		pg_config --bindir
		return
	fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
		return
	fi
	return 1
}

# as_pg CMD...: run CMD as the postgres user when we are root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		local u=postgres
		id postgres >/dev/null 2>&1 || u=nobody
		runuser -u "$u" -- "$@"
	else
		"$@"
	fi
}

pg_owner() {
	if [ "$(id -u)" = 0 ]; then
		if id postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
	else
		id -un
	fi
}
