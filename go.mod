module github.com/zoomdiff/zoomdiff

go 1.26
