#!/usr/bin/env bash
# make run: a single-node ZooKeeper on 127.0.0.1:2181 and one Gregor broker
# on localhost:9092, with their data under the folder given (default ./data).
# make cluster: the same with BROKERS=3 brokers on localhost:9092, 9093, 9094.
# Ctrl-C stops everything.
#
# ZooKeeper is Debian's `zookeeper` package (installed here when missing and
# this user may run apt-get), run in the foreground with a configuration of
# our own, so that nothing of the system's ZooKeeper service is touched.
set -euo pipefail
data_dir=$(mkdir -p "${1:-data}" && cd "${1:-data}" && pwd)
bin=bin/gregor
zk_port=${ZK_PORT:-2181}
kafka_port=${KAFKA_PORT:-9092}
brokers=${BROKERS:-1}

zk_jar=/usr/share/java/zookeeper.jar
if [ ! -f "$zk_jar" ] || ! command -v java >/dev/null 2>&1; then
  echo "run: installing ZooKeeper (Debian package zookeeper)"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends zookeeper default-jre-headless
fi
classpath=$zk_jar
[ -f /usr/share/java/slf4j-simple.jar ] && classpath=$classpath:/usr/share/java/slf4j-simple.jar

mkdir -p "$data_dir/zookeeper"
cat > "$data_dir/zookeeper/zoo.cfg" <<CFG
tickTime=2000
dataDir=$data_dir/zookeeper
clientPort=$zk_port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
CFG
# As Kafka's own config/server.properties for development: the internal
# offsets topic fits the brokers there are (Kafka's default replication
# factor of 3 would leave consumer groups without a coordinator on one
# broker), and a new group does not wait 3 s for more members.
offsets_rf=$(( brokers < 3 ? brokers : 3 ))
for id in $(seq 1 "$brokers"); do
  mkdir -p "$data_dir/broker-$id"
  cat > "$data_dir/broker-$id/server.properties" <<CFG
broker.id=$id
listeners=PLAINTEXT://localhost:$((kafka_port + id - 1))
log.dirs=$data_dir/broker-$id/logs
zookeeper.connect=127.0.0.1:$zk_port
offsets.topic.replication.factor=$offsets_rf
group.initial.rebalance.delay.ms=0
CFG
done

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "run: stopping"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

java -cp "$classpath" org.apache.zookeeper.server.ZooKeeperServerMain "$data_dir/zookeeper/zoo.cfg" \
  > "$data_dir/zookeeper/zookeeper.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/$zk_port && printf ruok >&3 && read -r -t 1 ok <&3 && [ "$ok" = imok ]) 2>/dev/null; then
    break
  fi
  sleep 0.2
done
echo "run: ZooKeeper on 127.0.0.1:$zk_port (log: $data_dir/zookeeper/zookeeper.log)"

for id in $(seq 1 "$brokers"); do
  "$bin" server start "$data_dir/broker-$id/server.properties" > >(sed -u "s/^/[broker-$id] /") 2>&1 &
  pids+=($!)
done
bootstrap=localhost:$kafka_port
cat <<MSG
run: $brokers broker(s) starting on localhost:$kafka_port and up (data: $data_dir/broker-*)

Try it:
  bin/gregor topics --bootstrap-server $bootstrap --create --topic demo --partitions 3
  printf 'a:one\nb:two\n' | kcat -b $bootstrap -t demo -P -K:
  kcat -b $bootstrap -t demo -C -e -f '%k=%s\n'
  bin/gregor console-consumer --bootstrap-server $bootstrap --topic demo --from-beginning --max-messages 2
  bin/gregor console-consumer --bootstrap-server $bootstrap --topic demo --group demo-group --from-beginning --max-messages 2
  bin/gregor consumer-groups --bootstrap-server $bootstrap --describe --group demo-group
Ctrl-C stops the brokers and ZooKeeper.
MSG
wait "${pids[1]}"
