module github.com/authd/authd/bench

go 1.26
