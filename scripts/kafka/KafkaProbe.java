import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * KafkaProbe is the cluster check behind scripts/kafka.sh. It talks to the brokers with the
 * Kafka admin client, exactly as a test would.
 *
 * <pre>
 *   KafkaProbe ready   BOOTSTRAP IDS TIMEOUT_SECONDS
 *   KafkaProbe brokers BOOTSTRAP TIMEOUT_SECONDS
 * </pre>
 *
 * {@code ready} waits until every broker id in the comma-separated IDS is registered and
 * unfenced, and a topic replicated on all of them can be created, gets a leader and a full ISR,
 * and can be deleted again. {@code brokers} prints the cluster id and the live (unfenced) brokers
 * in the cluster metadata. Both exit 0 on success and 1 when the time runs out.
 */
public final class KafkaProbe {
    private static final String PROBE_TOPIC = "kafka-sh-ready-probe";
    private static final long STEP_MS = 250;

    private KafkaProbe() {
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length == 4 && args[0].equals("ready")) {
            System.exit(ready(args[1], parseIds(args[2]), Long.parseLong(args[3])));
        }
        if (args.length == 3 && args[0].equals("brokers")) {
            System.exit(brokers(args[1], Long.parseLong(args[2])));
        }
        System.err.println("usage: KafkaProbe ready BOOTSTRAP IDS TIMEOUT_SECONDS | brokers BOOTSTRAP TIMEOUT_SECONDS");
        System.exit(2);
    }

    private static List<Integer> parseIds(String csv) {
        List<Integer> ids = new ArrayList<>();
        for (String s : csv.split(",")) {
            ids.add(Integer.parseInt(s.trim()));
        }
        return ids;
    }

    private static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "kafka-sh-probe");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        return Admin.create(p);
    }

    private static int ready(String bootstrap, List<Integer> ids, long timeoutSeconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        String last = "no attempt made";
        try (Admin admin = admin(bootstrap)) {
            while (System.nanoTime() < deadline) {
                try {
                    String missing = attempt(admin, ids, deadline);
                    if (missing == null) {
                        return 0;
                    }
                    last = missing;
                } catch (ExecutionException e) {
                    last = String.valueOf(e.getCause());
                } catch (java.util.concurrent.TimeoutException e) {
                    last = "admin request timed out";
                }
                Thread.sleep(STEP_MS);
            }
        }
        System.err.println("kafka not ready after " + timeoutSeconds + "s: " + last);
        return 1;
    }

    /** attempt returns null when the cluster is ready, or what is still missing. */
    private static String attempt(Admin admin, List<Integer> ids, long deadline)
            throws ExecutionException, InterruptedException, java.util.concurrent.TimeoutException {
        Set<Integer> registered = new TreeSet<>();
        for (Node n : admin.describeCluster().nodes().get(5, TimeUnit.SECONDS)) {
            registered.add(n.id());
        }
        if (!registered.containsAll(ids)) {
            return "brokers in metadata " + registered + ", want " + ids;
        }
        try {
            NewTopic topic = new NewTopic(PROBE_TOPIC, Map.of(0, ids));
            admin.createTopics(List.of(topic)).all().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        Set<Integer> want = new HashSet<>(ids);
        String state = "probe topic has no leader yet";
        while (System.nanoTime() < deadline) {
            try {
                TopicDescription d = admin.describeTopics(List.of(PROBE_TOPIC)).allTopicNames()
                        .get(5, TimeUnit.SECONDS).get(PROBE_TOPIC);
                TopicPartitionInfo p = d.partitions().get(0);
                Set<Integer> isr = idsOf(p.isr());
                if (p.leader() != null && !p.leader().isEmpty() && isr.equals(want)) {
                    deleteProbe(admin);
                    return null;
                }
                state = "probe topic leader " + p.leader() + " isr " + isr + ", want isr " + want;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw e;
                }
            }
            Thread.sleep(100);
        }
        return state;
    }

    private static void deleteProbe(Admin admin)
            throws ExecutionException, InterruptedException, java.util.concurrent.TimeoutException {
        try {
            admin.deleteTopics(List.of(PROBE_TOPIC)).all().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                throw e;
            }
        }
    }

    private static Set<Integer> idsOf(Collection<Node> nodes) {
        Set<Integer> ids = new TreeSet<>();
        for (Node n : nodes) {
            ids.add(n.id());
        }
        return ids;
    }

    private static int brokers(String bootstrap, long timeoutSeconds) {
        try (Admin admin = admin(bootstrap)) {
            DescribeClusterResult r = admin.describeCluster();
            String clusterId = r.clusterId().get(timeoutSeconds, TimeUnit.SECONDS);
            List<Node> nodes = new ArrayList<>(r.nodes().get(timeoutSeconds, TimeUnit.SECONDS));
            nodes.sort((a, b) -> Integer.compare(a.id(), b.id()));
            System.out.println("cluster " + clusterId);
            for (Node n : nodes) {
                System.out.println("broker " + n.id() + " " + n.host() + ":" + n.port());
            }
            return 0;
        } catch (Exception e) {
            System.err.println("cannot read cluster metadata: " + e);
            return 1;
        }
    }
}
