package techmatch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;

import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.QueryExecutionException;

/**
 * A real Neo4j Community 5 server for techmatch: the embedded DBMS with its Bolt connector on loopback.
 *
 * <p>Usage: {@code Neo4jLauncher --home DIR --port PORT [--database NAME] [--pagecache SIZE]}. The password of
 * the {@code neo4j} user is the first line of standard input (never an argument: it would show in the process
 * list). Standard input stays open; when it closes (the techmatch process that started us is gone, even by
 * SIGKILL) the server shuts down. SIGTERM shuts it down cleanly too. When the server accepts the password over
 * Bolt, {@code DIR/run/ready} is written with the Bolt port.
 */
public final class Neo4jLauncher {

    private Neo4jLauncher() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        Path home = Path.of(require(opts, "--home")).toAbsolutePath();
        int port = Integer.parseInt(require(opts, "--port"));
        String database = opts.getOrDefault("--database", "neo4j");
        String pagecache = opts.getOrDefault("--pagecache", "128m");

        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String password = stdin.readLine();
        if (password == null || password.strip().length() < 8) {
            fail("no password (at least 8 characters) on standard input");
        }
        password = password.strip();

        Path ready = home.resolve("run").resolve("ready");
        Files.createDirectories(ready.getParent());
        Files.deleteIfExists(ready);

        String address = "127.0.0.1:" + port;
        Map<String, String> config = new TreeMap<>();
        config.put("initial.dbms.default_database", database);
        config.put("dbms.security.auth_enabled", "true");
        config.put("server.bolt.enabled", "true");
        config.put("server.bolt.listen_address", address);
        config.put("server.bolt.advertised_address", address);
        config.put("server.bolt.tls_level", "DISABLED");
        config.put("server.default_listen_address", "127.0.0.1");
        config.put("server.default_advertised_address", "127.0.0.1");
        config.put("server.memory.pagecache.size", pagecache);
        config.put("db.tx_log.rotation.retention_policy", "2 files");
        config.put("db.logs.query.enabled", "OFF");
        config.put("dbms.usage_report.enabled", "false");

        // The settings go through a neo4j.conf the launcher writes (owner-only, like everything under home).
        Path conf = home.resolve("conf").resolve("neo4j.conf");
        Files.createDirectories(conf.getParent());
        StringBuilder text = new StringBuilder("# written by techmatch's Neo4jLauncher at every start\n");
        config.forEach((key, value) -> text.append(key).append('=').append(value).append('\n'));
        Files.writeString(conf, text.toString(), StandardCharsets.UTF_8);
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home).loadPropertiesFromFile(conf).build();
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            try {
                dbms.shutdown();
            } finally {
                stopped.countDown();
            }
        }, "techmatch-neo4j-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);

        setPassword(dbms.database("system"), password);

        Path tmp = ready.resolveSibling("ready.tmp");
        Files.writeString(tmp, Integer.toString(port) + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, ready, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        System.out.println("techmatch-neo4j: ready at bolt://" + address + " (database " + database + ")");
        System.out.flush();

        Thread watchdog = new Thread(() -> {
            try {
                while (stdin.readLine() != null) {
                    // nothing else is read from standard input; only its end matters
                }
            } catch (IOException ignored) {
                // a broken pipe is an end too
            }
            System.out.println("techmatch-neo4j: standard input closed, shutting down");
            System.exit(0);
        }, "techmatch-neo4j-parent-watch");
        watchdog.setDaemon(true);
        watchdog.start();
        stopped.await();
    }

    private static void setPassword(GraphDatabaseService system, String password) {
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        } catch (QueryExecutionException e) {
            // A restart on an existing data directory: the stored password is already this one.
            if (e.getMessage() == null || !e.getMessage().contains("cannot be the same")) {
                throw e;
            }
        }
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                fail("bad argument " + args[i] + "; usage: --home DIR --port PORT [--database NAME]");
            }
            opts.put(args[i], args[++i]);
        }
        return opts;
    }

    private static String require(Map<String, String> opts, String key) {
        String value = opts.get(key);
        if (value == null) {
            fail("missing " + key);
        }
        return value;
    }

    private static void fail(String message) {
        System.err.println("techmatch-neo4j: error: " + message);
        System.exit(2);
    }
}
