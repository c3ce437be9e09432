// The seeds of connleak, in their own runtime: small clients that tests/integration/
// run_managed.py runs under the preload against loopback peers. One line per request on
// stdout ("req=N status=S body=..." or "req=N fail=..."), so the tests can count what the
// program itself saw. Methods that open connections are NoInlining so their names stay
// on the stack the preload captures.
using System;
using System.Collections.Generic;
using System.Net;
using System.IO;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;

static class Seeds
{
    // What the leaky modes never dispose, kept reachable so the collector does not close
    // them behind the program's back (a finalizer closing a socket is luck, not a fix).
    static readonly List<object> Kept = new List<object>();

    // A raw connection opened by a named method and never closed.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static void LeakConnection(IPAddress addr, int port)
    {
        var client = new TcpClient(AddressFamily.InterNetwork);
        client.Connect(addr, port);
        var req = System.Text.Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        client.GetStream().Write(req, 0, req.Length);
        Kept.Add(client);
    }

    // The classic socket exhaustion: a new HttpClient per request, never disposed.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static string FetchWithNewClient(string url)
    {
        var client = new HttpClient();
        Kept.Add(client);
        return client.GetStringAsync(url).GetAwaiter().GetResult();
    }

    // Story 1's shape: HTTPS through a CONNECT proxy, by hand (TcpClient to the proxy,
    // CONNECT, SslStream over the tunnel). One request with "Connection: close"; then the
    // socket is closed while the SslStream lives on, referenced and never disposed (the
    // leak), or disposed first (the fix).
    [MethodImpl(MethodImplOptions.NoInlining)]
    static SslStream OpenTunnel(string proxyHost, int proxyPort, string target)
    {
        var client = new TcpClient(AddressFamily.InterNetwork);
        client.Connect(IPAddress.Parse(proxyHost), proxyPort);
        var net = client.GetStream();
        var connect = System.Text.Encoding.ASCII.GetBytes(
            "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
        net.Write(connect, 0, connect.Length);
        var head = new List<byte>();
        while (head.Count < 4 || head[head.Count - 4] != '\r' || head[head.Count - 1] != '\n')
        {
            int b = net.ReadByte();
            if (b < 0)
                throw new IOException("proxy closed the tunnel");
            head.Add((byte)b);
        }
        string status = System.Text.Encoding.ASCII.GetString(head.ToArray());
        if (!status.Contains(" 200"))
            throw new IOException("proxy: " + status.Split('\r')[0]);
        var tls = new SslStream(net, false, (m, c, ch, e) => true);
        tls.AuthenticateAsClient("localhost");
        var req = System.Text.Encoding.ASCII.GetBytes(
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.Write(req, 0, req.Length);
        var buf = new byte[4096];
        int got = tls.Read(buf, 0, buf.Length);
        Console.WriteLine("tunnel reply {0} bytes", got);
        Kept.Add(client);
        return tls;
    }

    static HttpClientHandler Trusting()
    {
        // The tests' peers use a self-signed certificate made for the run.
        return new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (m, c, ch, e) => true,
        };
    }

    static int Line(int i, HttpResponseMessage r)
    {
        string body = r.Content.ReadAsStringAsync().GetAwaiter().GetResult().Trim();
        Console.WriteLine("req={0} status={1} body={2}", i, (int)r.StatusCode,
                          body.Length > 40 ? body.Substring(0, 40) : body);
        return (int)r.StatusCode;
    }

    static int Main(string[] a)
    {
        string mode = a.Length > 0 ? a[0] : "";
        switch (mode)
        {
        case "tcpleak":
            LeakConnection(IPAddress.Parse(a[1]), int.Parse(a[2]));
            Console.WriteLine("leaked one connection");
            return 0;
        case "perrequest":
        {
            int n = int.Parse(a[2]);
            for (int i = 0; i < n; i++)
                Console.WriteLine("req={0} len={1}", i, FetchWithNewClient(a[1]).Length);
            return 0;
        }
        case "tunnel":
        {
            // tunnel PROXY_ADDR PROXY_PORT TARGET N HOLD_MS leak|fixed
            int n = int.Parse(a[4]), hold = int.Parse(a[5]);
            for (int i = 0; i < n; i++)
            {
                var tls = OpenTunnel(a[1], int.Parse(a[2]), a[3]);
                var client = (TcpClient)Kept[Kept.Count - 1];
                if (a[6] == "fixed")
                    tls.Dispose();
                else
                    Kept.Add(tls);
                client.Client.Close(); // "Connection: close": the socket goes
            }
            Thread.Sleep(hold);
            return 0;
        }
        case "clean":
        {
            // One client, keep-alive, disposed at the end: nothing to find.
            int n = int.Parse(a[2]);
            using (var client = new HttpClient(Trusting()))
                for (int i = 0; i < n; i++)
                    using (var r = client.GetAsync(a[1]).GetAwaiter().GetResult())
                        Line(i, r);
            return 0;
        }
        case "singleton":
        {
            // Story 2: one client for the program's life, a request every `pause` ms.
            // With "lifetime" as 5th argument, .NET's own fix: PooledConnectionLifetime.
            int n = int.Parse(a[2]), pause = int.Parse(a[3]);
            var handler = new SocketsHttpHandler();
            if (a.Length > 4 && a[4] == "lifetime")
                handler.PooledConnectionLifetime = TimeSpan.FromMilliseconds(int.Parse(a[5]));
            var client = new HttpClient(handler);
            Kept.Add(client);
            for (int i = 0; i < n; i++)
            {
                try
                {
                    using (var r = client.GetAsync(a[1]).GetAwaiter().GetResult())
                        Line(i, r);
                }
                catch (HttpRequestException e)
                {
                    Console.WriteLine("req={0} fail={1}", i, e.Message);
                }
                Thread.Sleep(pause);
            }
            return 0;
        }
        case "limit":
        {
            // Story 3: at most two connections to the server, many requests in parallel,
            // a pause so the server's short keep-alive timeout closes idle connections.
            int n = int.Parse(a[2]), pause = int.Parse(a[3]);
            var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 2 });
            for (int round = 0; round < n; round++)
            {
                var tasks = new List<Task>();
                for (int k = 0; k < 4; k++)
                {
                    int i = round * 4 + k;
                    tasks.Add(Task.Run(async () =>
                    {
                        try
                        {
                            using (var r = await client.GetAsync(a[1]))
                                Line(i, r);
                        }
                        catch (HttpRequestException e)
                        {
                            Console.WriteLine("req={0} fail={1}", i, e.Message);
                        }
                    }));
                }
                Task.WaitAll(tasks.ToArray());
                Thread.Sleep(pause);
            }
            client.Dispose();
            return 0;
        }
        default:
            Console.Error.WriteLine("usage: Seeds tcpleak ADDR PORT | perrequest URL N | clean URL N | "
                                    + "singleton URL N PAUSE_MS [lifetime MS] | limit URL ROUNDS PAUSE_MS | "
                                    + "tunnel PROXY_ADDR PROXY_PORT TARGET N HOLD_MS leak|fixed");
            return 2;
        }
    }
}
