//! `dtprune models`: every model with its input kind, its `[model]` parameters and the data
//! sets it takes; then every data set.

pub fn print_models() {
    let datasets = dtprune_data::datasets();
    for m in dtprune_train::registry::models() {
        let kind = m.runner.input_kind();
        let takes: Vec<&str> = datasets.iter().filter(|d| d.input == kind).map(|d| d.name).collect();
        println!("{:<12} input {:<6} {}", m.name, kind, m.summary);
        println!("    data sets: {}", takes.join(", "));
        println!("    replicas:  {} by default", m.runner.replicas());
        if m.runner.params().is_empty() {
            println!("    [model] parameters: none");
        }
        for s in m.runner.params() {
            println!("    {:<18} default {:<10} range {:<22} {}", s.name, s.default.to_string(), s.kind.range_text(), s.help);
        }
    }
    println!("\ndata sets:");
    for d in &datasets {
        println!("{:<14} input {:<6} {}", d.name, d.input, d.summary);
        for o in (d.options)() {
            let default = if o.default.is_empty() { "-" } else { o.default };
            println!("    {:<18} default {:<10} range {:<22} {}", o.name, default, o.kind.range_text(), o.help);
        }
    }
    println!("\nSet parameters in a `[model]` table (name = \"...\" plus parameters) or with -M key=value;");
    println!("data-set options in a `[data]` table or with -D key=value.");
}
